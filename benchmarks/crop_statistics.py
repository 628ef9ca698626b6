"""Fine-tuning on a painted crop: whose statistics normalize it.

Scribbles of a large image train on their painted region (``_painted_region``, images
over 67 M pixels); the crop was normalized by its own percentiles, prediction takes the
whole image's. Here the crop limit is lowered (``CROP_PIXELS`` 10,000, margin 16) so the
real cases of ``real_data.py`` crop as a large image would, and the default model is
fine-tuned for a fixed number of steps (2D 250, 3D 150; ``SEED`` from the environment),
then scored on the unpainted part (foreground Dice), whichever version of the package
is imported first. Prints one JSON line per case. The comparison of 2026-12-08:

    git archive <commit before> src | tar -x -C /tmp/old
    SEED=0 PYTHONPATH=/tmp/old/src python benchmarks/crop_statistics.py old cells3d-nuclei-3d
    SEED=0 python benchmarks/crop_statistics.py new cells3d-nuclei-3d
"""

import json
import os
import sys
import time

import napari_unetseg  # first: from PYTHONPATH (bench_accuracy puts this repo's src first)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_accuracy as B  # noqa: E402
import real_data  # noqa: E402
import torch  # noqa: E402

import napari_unetseg.core.training.labels as TL  # noqa: E402
from napari_unetseg import api  # noqa: E402


def main() -> None:
    torch.set_num_threads(2)
    TL.CROP_PIXELS, TL.PAINTED_MARGIN = 10_000, 16
    tag, seed = sys.argv[1], int(os.environ.get("SEED", "0"))
    for name in sys.argv[2:]:
        loaded = real_data.load_case(name)
        scribbles = B.make_scribbles(loaded)
        scored = ~B.painted_region(loaded.case, loaded.image.shape)
        steps = 250 if loaded.case.dims == 2 else 150
        said: list[str] = []
        t0 = time.perf_counter()
        model = api.drain(
            api.train_iter(
                loaded.image,
                scribbles,
                model=f"nuclei-{loaded.case.dims}d",
                label_mode="sparse",
                steps=steps,
                seed=seed,
            ),  # fmt: skip
            lambda record, said=said: said.append(record.message or ""),
        )
        labels = B.predict_foreground(loaded.image, model, {})
        dice = B.foreground_scores(labels, loaded.foreground, scored)["dice"]
        crop = next((s for s in said if "painted region" in s), "")
        print(json.dumps({
            "tag": tag, "seed": seed, "case": name, "dice": round(dice, 4), "steps": steps,
            "train_s": round(time.perf_counter() - t0), "package": napari_unetseg.__file__,
            "crop": crop[:90],
        }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
