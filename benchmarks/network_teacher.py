"""Should the forest teacher read a trained network's answer (issue #14)?

A new model trained on scribbles learns from the plugin's forest teacher
(``napari_unetseg.forest``): a random forest on intensity, edge and texture features up
to sigma 4, fitted on the strokes. This script fits that forest on the
``bench_accuracy.py`` strokes with more features from the shipped ``nuclei-2d``
(computed plane by plane at the image's own scale, with the whole image's normalization)
and prints each teacher's Dice on the unpainted part, per case and draw:

- ``own``: the forest's own features (the teacher before this was measured);
- ``+maps+score``: and the network's last decoder layer (16 maps) and its foreground
  score (class-1 minus class-0 logit): the convpaint approach;
- ``+score``: and the score alone (what the plugin does on one-channel planes when the
  score tells the strokes apart);
- ``+score smoothed``: and the score smoothed at sigma 1, 2 and 4;
- on stacks, ``+3D score``: and the foreground score of the shipped ``nuclei-3d``,
  computed in 3D (what the plugin does on one-channel stacks when it tells the strokes
  apart).

It also prints the ROC AUC of each score on the strokes (objects against background), the
plugin's gate (``core.network_features.MIN_AUC``). Case ``toy`` is the test suite's
image of four noisy discs with one painted dot (``tests/test_forest.py``), scored on
every pixel.

    OMP_NUM_THREADS=2 python benchmarks/network_teacher.py --cases huh7-cells-2d \\
        ndev-scratch-assay-auto dsb2018-2d stardist-synthetic-3d mni152-gm-3d \\
        mni152-gm-2d mni152-wm-2d mni152-wm-3d cells3d-nuclei-3d --seeds 0 1 2

Prints a Markdown table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import bench_accuracy as bench
import numpy as np
import real_data
import torch
from scipy import ndimage as ndi

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from napari_unetseg import forest  # noqa: E402
from napari_unetseg.core import network_features  # noqa: E402
from napari_unetseg.core.network_features import NetworkFeatures, separates  # noqa: E402

VARIANTS = ("own", "+maps+score", "+score", "+score smoothed", "+3D score")


def decoder_maps(bundle, image: np.ndarray) -> np.ndarray:
    """The network's last decoder layer, plane by plane: ``image.shape + (C,)``."""
    net, features = bundle.network.eval(), NetworkFeatures(bundle, image)
    div = net.divisor()

    def plane(p: np.ndarray) -> np.ndarray:
        x = features.normalizer(p[None])[0]
        x = np.pad(x, [(0, (-n) % div) for n in x.shape], mode="symmetric")
        t = torch.from_numpy(x)[None, None]
        with torch.no_grad():
            skips = []
            for i, enc in enumerate(net.encoders):
                t = enc(net.pool(t) if i else t)
                skips.append(t)
            t = skips.pop()
            for up, dec in zip(net.ups, net.decoders, strict=True):
                t = dec(torch.cat([up(t), skips.pop()], 1))
        return t[0, :, : p.shape[0], : p.shape[1]].permute(1, 2, 0).numpy()

    if image.ndim == 2:
        return plane(image)
    return np.stack([plane(p) for p in image])


def teachers(image: np.ndarray) -> dict[str, np.ndarray]:
    """The features of each variant."""
    bundle = network_features.shipped("nuclei-2d")
    own = forest.features(image)
    whole = tuple(slice(0, n) for n in image.shape)
    score = NetworkFeatures(bundle, image).block(image, whole)
    smooth = np.stack([ndi.gaussian_filter(score[..., 0], s) for s in (1, 2, 4)], -1)
    out = {
        "own": own,
        "+maps+score": np.concatenate([own, decoder_maps(bundle, image), score], -1),
        "+score": np.concatenate([own, score], -1),
        "+score smoothed": np.concatenate([own, score, smooth], -1),
    }
    if image.ndim == 3:
        bundle3 = network_features.shipped("nuclei-3d")
        score3 = NetworkFeatures(bundle3, image).block(image, whole)
        out["+3D score"] = np.concatenate([own, score3], -1)
    return out


def fitted(features: np.ndarray, scribbles: np.ndarray) -> np.ndarray:
    """The teacher's forest (``forest.FOREST``, seed 0) fitted on the strokes: objects."""
    from sklearn.ensemble import RandomForestClassifier

    painted = scribbles > 0
    clf = RandomForestClassifier(**forest.FOREST, random_state=0)
    clf.fit(features[painted], scribbles[painted])
    flat = features.reshape(-1, features.shape[-1])
    return clf.predict(flat).reshape(scribbles.shape) == 2


def cases(names: list[str], seeds: list[int]):
    """(name, image, truth, scored, [(seed, scribbles)]) per case."""
    from test_forest import _blobs, _scribbles

    for name in names:
        if name == "toy":
            image, truth = _blobs()
            yield name, image, truth, np.ones(truth.shape, bool), [(0, _scribbles(truth))]
            continue
        loaded = real_data.load_case(name)
        image = loaded.image.astype(np.float32)
        scored = ~bench.painted_region(loaded.case, image.shape)
        draws = [(s, bench.make_scribbles(loaded, seed=s)) for s in seeds]
        yield name, image, loaded.foreground, scored, draws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=["toy", "huh7-cells-2d", "dsb2018-2d"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="scribble draws")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    names = ["toy"] + [c for c in args.cases if c != "toy"]
    print("| case | draw | ROC AUC of the score / 3D score | " + " | ".join(VARIANTS) + " |")
    print("|---|---|---|" + "---|" * len(VARIANTS))
    for name, image, truth, scored, draws in cases(names, args.seeds):
        feats = teachers(image)
        for seed, scribbles in draws:
            painted = scribbles > 0
            aucs = [
                f"{separates(feats[k][..., -1][painted], scribbles[painted]):.3f}"
                for k in ("+score", "+3D score")
                if k in feats
            ]
            dice = [
                bench.foreground_scores(fitted(feats[k], scribbles), truth, scored)["dice"]
                if k in feats
                else None
                for k in VARIANTS
            ]
            cells = " | ".join("-" if d is None else f"{d:.3f}" for d in dice)
            print(f"| {name} | s{seed} | {' / '.join(aucs)} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
