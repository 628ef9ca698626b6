"""Draw the real-data results as one figure (``docs/accuracy.png``): each case's Dice
next to its baseline's, from the JSON files the accuracy benchmarks wrote.

    python benchmarks/plot_accuracy.py \
        --cases benchmarks/results/accuracy-all-cases-zen4-2026-12-04.json \
        --classes benchmarks/results/classes-weights-2026-12-04.jsonl \
        --out docs/accuracy.png

Three panels, one row per measurement, the baseline as a grey dot and ours as a coloured
one joined to it: the shipped default model against Otsu's threshold
(``bench_accuracy.py``'s ``default_vs_otsu``, the model that matches the image's
dimensionality), scribble training against the random forest on the same strokes
(``scribbles_vs_forest``, Dice on the unpainted part) and the cases of several classes
(``bench_classes.py``, mean Dice of the classes). Green: ahead by the issue's 0.02 or more;
orange: within 0.02 either way; red: behind by more. Each row names how its reference was
made (manual, atlas, automatic, synthetic): an automatic reference made by thresholding
favours the threshold and the forest. Nothing is computed here; the figure only draws what
the files hold.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

MARGIN = 0.02  # issue #14's target: 0.02 Dice above the baseline
COLOURS = {"ahead": "#2e7d32", "level": "#ef6c00", "behind": "#c62828"}
BASELINE = "#9e9e9e"


def _verdict(ours: float, baseline: float) -> str:
    if ours >= baseline + MARGIN:
        return "ahead"
    return "behind" if ours < baseline - MARGIN else "level"


def default_rows(results: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(label, Otsu, default model) of each case, with the model its dimensionality gets."""
    rows = []
    for r in results["default_vs_otsu"]:
        if r["ours"] != f"nuclei-{r['dims']}d":
            continue  # a 2D model plane by plane: not what the default is
        label = f"{r['case']} ({r['reference_type']})"
        rows.append((label, r["baseline_scores"]["dice"], r["ours_scores"]["dice"]))
    return rows


def scribble_rows(results: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(label, forest, U-Net) of each scribble run."""
    rows = []
    for r in results["scribbles_vs_forest"]:
        how = r["ours"].replace("new ", "new ").replace(" (plane by plane)", ", per plane")
        label = f"{r['case']}: {how} ({r['reference_type']})"
        rows.append((label, r["baseline_scores"]["dice"], r["ours_scores"]["dice"]))
    return rows


def class_rows(lines: list[dict[str, Any]]) -> list[tuple[str, float, float]]:
    """(label, forest, U-Net) of each several-class run: mean Dice of the classes."""
    rows = []
    for r in lines:
        how = r["ours"].replace(" (plane by plane)", ", per plane")
        label = f"{r['case']} s{r['seed']}: {how}"
        rows.append((label, r["forest_scores"]["mean_dice"], r["ours_scores"]["mean_dice"]))
    return rows


def _panel(axes: Any, rows: list[tuple[str, float, float]], title: str, ours: str) -> None:
    import numpy as np

    y = np.arange(len(rows))[::-1]
    for yi, (_, base, mine) in zip(y, rows, strict=True):
        colour = COLOURS[_verdict(mine, base)]
        axes.plot([base, mine], [yi, yi], color=colour, lw=1.5, zorder=1)
        axes.scatter([base], [yi], color=BASELINE, s=28, zorder=2)
        axes.scatter([mine], [yi], color=colour, s=36, zorder=3)
    axes.set_yticks(y, [label for label, _, _ in rows], fontsize=8)
    axes.set_title(title, fontsize=10, loc="left")
    axes.set_xlabel(f"Dice (grey: baseline; coloured: {ours})", fontsize=8)
    axes.grid(axis="x", color="#e0e0e0", lw=0.6)
    axes.set_axisbelow(True)
    axes.tick_params(axis="x", labelsize=8)
    lo = min(min(b, m) for _, b, m in rows)
    axes.set_xlim(max(0.0, lo - 0.03), 1.0)


def draw(cases: dict[str, Any], classes: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    panels = [
        (
            default_rows(cases),
            "Default model vs Otsu (after a blur, sigma 1), whole image",
            "default model",
        ),
        (
            scribble_rows(cases),
            "Scribble training (90 s 2D / 180 s 3D) vs random forest, unpainted part",
            "U-Net",
        ),
    ]
    if classes:
        panels.append(
            (
                class_rows(classes),
                "Several classes (mean Dice) vs random forest, unpainted part",
                "U-Net",
            )
        )
    heights = [len(rows) + 2 for rows, _, _ in panels]
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(8.5, 0.24 * sum(heights) + 1.2),
        gridspec_kw={"height_ratios": heights},
        layout="constrained",
    )
    for ax, (rows, title, ours) in zip(axes, panels, strict=True):
        _panel(ax, rows, title, ours)
    handles = [
        Line2D([], [], marker="o", ls="", color=c, label=f"{k} (by {MARGIN} Dice)")
        if k != "level"
        else Line2D([], [], marker="o", ls="", color=c, label=f"within {MARGIN}")
        for k, c in COLOURS.items()
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}: {', '.join(f'{len(r)} rows' for r, _, _ in panels)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", required=True, help="bench_accuracy.py's JSON")
    parser.add_argument("--classes", default=None, help="bench_classes.py's JSON lines")
    parser.add_argument("--out", default="docs/accuracy.png")
    args = parser.parse_args()
    cases = json.loads(Path(args.cases).read_text())
    classes = []
    if args.classes:
        lines = Path(args.classes).read_text().splitlines()
        classes = [json.loads(line) for line in lines if line.strip()]
    draw(cases, classes, Path(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
