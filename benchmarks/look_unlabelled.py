"""Look at the default model on a real image without a reference (``real_data.UNLABELLED``).

(The benchmark's evaluation cases can be named too; their reference is not used.)

Nothing can be scored on these images, but a glance shows a failure a table cannot: the
script segments the image with the shipped default model of its dimensionality (as
``unetseg predict`` does: object size auto) and writes a figure of a few planes with the
model's outlines next to those of Otsu's threshold (Gaussian sigma 1), and prints the
measured object size, the share of the image each marks, the model's mean probability
on Otsu's objects and off them, and how sure it was of what it marked (the share of
marked voxels above 0.8, ``stats["confidence"]``, with the hint users see below 0.5).

    python benchmarks/look_unlabelled.py cellseg3d-mesospim-3d --png look.png
    python benchmarks/look_unlabelled.py cellseg3d-mesospim-3d --fine-tune 120 --png ft.png

With ``--fine-tune SECONDS`` the model is first fine-tuned (``api.train``, sparse labels)
on dots a user could click: the centre voxel of every second object of Otsu's threshold
and 60 voxels at least 5 px away from them, on every 8th plane, in the first 40 % of the
rows only; the printed figures are then those of the fine-tuned model (Otsu's objects
stand in for nuclei only to place the dots).

Prints what it measured; nothing is asserted.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import real_data
from bench_accuracy import DEFAULT_MODEL, otsu_foreground
from scipy import ndimage

from napari_unetseg import api
from napari_unetseg.core.progress import drain


def dots(image: np.ndarray, otsu: np.ndarray, seed: int = 0) -> np.ndarray:
    """Sparse labels (1 background, 2 object) as a user would click them, see above."""
    rng = np.random.default_rng(seed)
    stack, o_stack = (image[None], otsu[None]) if image.ndim == 2 else (image, otsu)
    out = np.zeros(stack.shape, np.uint8)
    rows = int(0.4 * stack.shape[1])
    far = ndimage.distance_transform_edt(~o_stack) > 5
    for z in range(min(4, len(stack) - 1), len(stack), 8):
        objects, _ = ndimage.label(o_stack[z, :rows])
        for index in np.unique(objects[objects > 0])[::2]:
            ys, xs = np.nonzero(objects == index)
            out[z, ys[len(ys) // 2], xs[len(xs) // 2]] = 2
        ys, xs = np.nonzero(far[z, :rows])
        pick = rng.choice(len(ys), size=min(60, len(ys)), replace=False)
        out[z, ys[pick], xs[pick]] = 1
    return out[0] if image.ndim == 2 else out


def load(name: str) -> np.ndarray:
    """The image of an unlabelled entry or an evaluation case, as one grey plane or
    volume (RGB averaged, the middle time point of a series)."""
    if name in real_data.UNLABELLED:
        image = np.asarray(real_data.load_unlabelled(name))
    else:  # an evaluation case, looked at like any image (its reference is not used)
        image = real_data.load_case(name).image
    if image.ndim == 3 and image.shape[-1] in (3, 4):  # RGB plane
        image = image[..., :3].mean(-1)
    while image.ndim > 3:  # time series: the middle time point
        image = image[len(image) // 2]
    return image


def figures_of(image: np.ndarray, otsu: np.ndarray, model: object) -> tuple[dict, object]:
    """Segment ``image``; the shares marked, the mean probability on and off Otsu's
    objects and the sure share, with the prediction result."""
    result = drain(api.predict_iter(image, model, return_probabilities=True))
    prob = np.asarray(result.probabilities)
    figures = {
        "ours_fraction": float((np.asarray(result.labels) > 0).mean()),
        "otsu_fraction": float(otsu.mean()),
        "probability_on_otsu": float(prob[otsu].mean()) if otsu.any() else float("nan"),
        "probability_off_otsu": float(prob[~otsu].mean()),
        "sure_share": result.stats["confidence"]["sure_share"],
    }
    return figures, result


def look(name: str, png: Path | None, planes: int = 3, fine_tune: float = 0.0) -> dict[str, float]:
    """Segment one unlabelled image; print the figures and write the picture."""
    image = load(name)
    otsu = otsu_foreground(image)
    model: object = DEFAULT_MODEL[min(image.ndim, 3)]
    title = str(model)
    print(f"{name} {image.shape} {image.dtype}, {title}")
    if fine_tune > 0:
        labels = dots(image, otsu)
        model = api.train(
            image, labels, model=model, label_mode="sparse", time_limit=fine_tune, seed=0
        )
        title = f"{title} fine-tuned {fine_tune:.0f} s"
        print(
            f"  {title} on {int((labels == 2).sum())} object and "
            f"{int((labels == 1).sum())} background dots ({model.history.get('steps')} steps)"
        )
    figures, result = figures_of(image, otsu, model)
    ours = np.asarray(result.labels) > 0
    print(f"  {result.stats['object_size']['message']}")
    print(
        f"  marked: ours {figures['ours_fraction']:.1%}, Otsu {figures['otsu_fraction']:.1%}; "
        f"our mean probability on Otsu's objects {figures['probability_on_otsu']:.2f}, "
        f"off them {figures['probability_off_otsu']:.2f}"
    )
    conf = result.stats["confidence"]
    share = "-" if conf["sure_share"] is None else f"{conf['sure_share']:.2f}"
    print(f"  sure share (marked voxels above 0.8, on the model's grid): {share}")
    if conf["message"]:
        print(f"  {conf['message']}")
    if png is not None:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415

        stack = image[None] if image.ndim == 2 else image
        o_stack = otsu[None] if image.ndim == 2 else otsu
        m_stack = ours[None] if image.ndim == 2 else ours
        zs = np.linspace(0, len(stack) - 1, planes + 2)[1:-1].round().astype(int)
        zs = np.unique(zs) if len(stack) > 1 else np.array([0])
        lo, hi = np.percentile(stack, [1, 99.8])
        fig, axes = plt.subplots(2, len(zs), figsize=(4 * len(zs), 8), squeeze=False)
        for j, z in enumerate(zs):
            for i, (mask, colour, who) in enumerate(
                [(m_stack, "c", title), (o_stack, "y", "Otsu")]
            ):
                ax = axes[i, j]
                ax.imshow(stack[z], cmap="gray", vmin=lo, vmax=hi)
                if mask[z].any():
                    ax.contour(mask[z], [0.5], colors=colour, linewidths=0.8)
                ax.set_title(f"{who}, plane {z}" if len(stack) > 1 else who)
                ax.axis("off")
        fig.tight_layout()
        fig.savefig(png, dpi=70)
        print(f"  wrote {png}")
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "names", nargs="+", choices=sorted(real_data.UNLABELLED) + sorted(real_data.EVAL_CASES)
    )
    parser.add_argument("--png", type=Path, help="picture (one image), or a folder")
    parser.add_argument("--fine-tune", type=float, default=0.0, metavar="SECONDS")
    args = parser.parse_args(argv)
    for name in args.names:
        png = args.png
        if png is not None and (len(args.names) > 1 or png.is_dir()):
            png.mkdir(parents=True, exist_ok=True)
            png = png / f"{name}.png"
        look(name, png, fine_tune=args.fine_tune)


if __name__ == "__main__":
    main()
