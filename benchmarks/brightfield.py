"""Stained brightfield images (H&E, IHC) with the fluorescence nuclei models.

``nuclei-2d`` learned bright nuclei on a dark background. A stained brightfield image
is the other way round: dark, hematoxylin-stained nuclei in pink (eosin) or brown (DAB)
tissue on a white background. Given as RGB to a one-channel model, it used to become the
mean of R, G and B, where the nuclei are dark: the model marked the bright tissue
instead. Such an image now becomes its hematoxylin channel
(``core.normalize.looks_brightfield`` / ``hematoxylin``: scikit-image's colour
deconvolution), where nuclei are bright.

No stained image with a reference ships in a public package found so far, so this
script scores on synthetic H&E images: the model card's held-out synthetic nuclei
(``train_default_models.test_set``, every 2D test kind) turned into stain densities,
hematoxylin on the nuclei (and faintly on the tissue), eosin on a textured tissue with
white gaps, through the Beer-Lambert law with Ruifrok and Johnston's stain vectors
(``skimage.color.hed2rgb``), plus camera noise. It compares, Dice against the nuclei:

- ``nuclei-2d`` on the RGB image as prediction takes it now (the hematoxylin channel);
- ``nuclei-2d`` on the mean of R, G and B (before);
- Otsu's threshold (Gaussian sigma 1) on the hematoxylin channel and on the inverted
  mean.

It also counts how often the brightfield rule fires on those images and on fluorescence
composites of the same nuclei (it should not), and prints the share marked on the real,
unscored stained images (stardist's H&E example, scikit-image's IHC image), with a
picture (``--png``). Prints what it measured; nothing is asserted.

    OMP_NUM_THREADS=2 python benchmarks/brightfield.py --images 3 --png /tmp/brightfield
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import real_data
from bench_accuracy import foreground_scores, otsu_foreground
from scipy.ndimage import gaussian_filter
from skimage.color import hed2rgb

from napari_unetseg import api
from napari_unetseg.core.normalize import hematoxylin, looks_brightfield
from napari_unetseg.core.progress import drain

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from train_default_models import TEST_KINDS, separated_foreground, test_set  # noqa: E402

#: Peak stain densities in rgb2hed's units (stardist's H&E example: hematoxylin up to
#: about 0.13 at its 99th percentile, eosin about 0.04).
HEMATOXYLIN_PEAK = (0.08, 0.16)
EOSIN_LEVEL = (0.02, 0.06)


def _smooth(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    g = gaussian_filter(rng.standard_normal(shape), sigma)
    return (g - g.mean()) / (g.std() + 1e-12)


def stained(image: np.ndarray, seed: int) -> np.ndarray:
    """A synthetic H&E RGB image (uint8) of a fluorescence nuclei image."""
    rng = np.random.default_rng([seed, 17])
    x = image.astype(np.float32)
    lo, hi = np.percentile(x, [1, 99.9])
    nuclei = np.clip((x - lo) / max(hi - lo, 1e-6), 0, 1.2)
    shape = nuclei.shape
    tissue = np.clip(0.6 + 0.25 * _smooth(rng, shape, 8) + 0.1 * _smooth(rng, shape, 1.5), 0, 1)
    tissue[_smooth(rng, shape, 20) > rng.uniform(0.8, 1.6)] *= 0.1  # white gaps
    h = rng.uniform(*HEMATOXYLIN_PEAK) * nuclei + 0.1 * HEMATOXYLIN_PEAK[0] * tissue
    e = rng.uniform(*EOSIN_LEVEL) * tissue * (1 - 0.7 * np.clip(nuclei, 0, 1))
    rgb = hed2rgb(np.stack([h, e, np.zeros_like(h)], axis=-1))
    rgb = rgb + rng.normal(0, 0.01, rgb.shape)
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


def fluorescence_composite(image: np.ndarray, colour: int) -> np.ndarray:
    """The same nuclei as a fluorescence RGB export: one colour on black (uint8)."""
    x = image.astype(np.float32)
    lo, hi = np.percentile(x, [0.5, 99.9])
    grey = np.clip((x - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb = np.zeros(grey.shape + (3,), np.float32)
    rgb[..., colour] = grey
    if colour == 1:  # magenta-green style: a second channel with less of it
        rgb[..., 0] = 0.5 * grey
    return (rgb * 255).round().astype(np.uint8)


def _nuclei_2d(image: np.ndarray) -> np.ndarray:
    return np.asarray(drain(api.predict_iter(image, "nuclei-2d")).labels) > 0


def synthetic(images: int) -> None:
    ways = ("nuclei-2d, as RGB (now)", "nuclei-2d, mean of RGB (before)")
    ways += ("Otsu on hematoxylin", "Otsu on inverted mean")
    print("| kind | " + " | ".join(ways) + " | rule fires (H&E / fluorescence) |")
    print("|---|" + "---|" * (len(ways) + 1))
    every: dict[str, list[float]] = {w: [] for w in ways}
    fired = [0, 0, 0]
    for k, kind in enumerate(TEST_KINDS):
        row: dict[str, list[float]] = {w: [] for w in ways}
        he_fired = fl_fired = 0
        for i, (image, inst, _scale) in enumerate(test_set(kind, 2, images)):
            truth = separated_foreground(inst) > 0
            rgb = stained(image, 1000 * k + i)
            mean = rgb.astype(np.float32).mean(axis=-1)
            masks = {
                ways[0]: _nuclei_2d(rgb),
                ways[1]: _nuclei_2d(mean),
                ways[2]: otsu_foreground(hematoxylin(rgb)),
                ways[3]: otsu_foreground(255 - mean),
            }
            for w, m in masks.items():
                row[w].append(foreground_scores(m, truth)["dice"])
            he_fired += looks_brightfield(rgb)
            fl_fired += sum(looks_brightfield(fluorescence_composite(image, c)) for c in (1, 2))
        for w in ways:
            every[w] += row[w]
        n = len(row[ways[0]])
        fired[0] += he_fired
        fired[1] += fl_fired
        fired[2] += n
        cells = " | ".join(f"{np.mean(row[w]):.3f}" for w in ways)
        print(f"| {kind} | {cells} | {he_fired}/{n} / {fl_fired}/{2 * n} |", flush=True)
    cells = " | ".join(f"**{np.mean(every[w]):.3f}**" for w in ways)
    print(f"| mean of {fired[2]} | {cells} | {fired[0]}/{fired[2]} / {fired[1]}/{2 * fired[2]} |")


def real(png: Path | None) -> None:
    from skimage.data import immunohistochemistry

    cases = {
        "stardist-he-2d (H&E)": real_data.load_unlabelled("stardist-he-2d"),
        "scikit-image immunohistochemistry (IHC: DAB + hematoxylin)": immunohistochemistry(),
    }
    neocortex = real_data.load_unlabelled("ndev-neocortex-2d")
    for c, name in enumerate(("CTIP2", "BRN2", "ROR")):
        cases[f"ndev-neocortex-2d, {name} channel as an RGB export (fluorescence)"] = (
            fluorescence_composite(neocortex[c], 2)
        )
    print("\n| real image, no reference | brightfield rule | marked: as RGB (now) | mean of RGB |")
    print("|---|---|---|---|")
    panels = []
    for name, rgb in cases.items():
        now = _nuclei_2d(rgb)
        before = _nuclei_2d(rgb.astype(np.float32).mean(axis=-1))
        print(
            f"| {name} | {'fires' if looks_brightfield(rgb) else 'does not fire'} | "
            f"{now.mean():.1%} | {before.mean():.1%} |",
            flush=True,
        )
        if "neocortex" not in name:
            panels.append((rgb, before, now))
    if png is not None:
        _picture(panels, png)


def _picture(panels: list[tuple[np.ndarray, np.ndarray, np.ndarray]], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(len(panels), 3, figsize=(12, 4 * len(panels)), squeeze=False)
    for row, (rgb, before, now) in zip(axes, panels):
        row[0].imshow(rgb)
        row[0].set_title("image")
        for ax, mask, title in ((row[1], before, "mean of RGB (before)"), (row[2], now, "now")):
            ax.imshow(rgb)
            ax.contour(mask, levels=[0.5], colors="lime", linewidths=0.6)
            ax.set_title(f"nuclei-2d, {title}")
        for ax in row:
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(png / "brightfield.png", dpi=80)
    print(f"picture: {png / 'brightfield.png'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=3, help="synthetic images per kind")
    parser.add_argument("--png", type=Path, default=None, help="folder for the picture")
    args = parser.parse_args(argv)
    synthetic(args.images)
    real(args.png)


if __name__ == "__main__":
    main()
