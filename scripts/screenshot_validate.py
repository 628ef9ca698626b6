"""Make ``docs/validate.png``: the viewer with the Validate widget after a 3D evaluation.

    xvfb-run -a python scripts/screenshot_validate.py [--model nuclei-3d] [--out docs/validate.png]

Opens the "Synthetic nuclei (3D)" sample, segments it with the shipped 3D model at the
layer's scale, as the Segment widget does (the prediction layer ``"nuclei 3D [unet]"``), docks the Validate widget, scores the
prediction against the sample's ground truth (instance labels: scored as one class,
objects from the ids) and saves a screenshot of the whole window at the middle slice.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _screens import close_toasts, settle

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nuclei-3d", help="model name or model file")
    parser.add_argument("--out", default=str(ROOT / "docs" / "validate.png"))
    args = parser.parse_args()

    import napari
    import numpy as np
    import torch
    from qtpy.QtWidgets import QApplication

    from napari_unetseg import api

    torch.set_num_threads(2)
    viewer = napari.Viewer(title="napari-unetseg: Validate")
    viewer.window.resize(1600, 1000)
    viewer.open_sample("napari-unetseg", "nuclei_3d")
    image = viewer.layers["nuclei 3D"]
    truth = viewer.layers["nuclei 3D ground truth"]
    # with the layer's scale, as the Segment widget predicts (a Z step twice the pixel)
    labels = api.predict(np.asarray(image.data), args.model, device="cpu", scale=image.scale)
    pred = viewer.add_labels(labels, name="nuclei 3D [unet]", scale=image.scale, opacity=0.5)
    truth.visible = pred.visible = False

    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Validate")
    widget.pred_combo.set_layer(pred)
    widget.gt_combo.set_layer(truth)
    widget.run()
    deadline = time.time() + 300
    while widget.runner.busy and time.time() < deadline:
        QApplication.processEvents()
        time.sleep(0.02)
    settle()
    result = widget.result
    # Show the middle slice's errors; the plot marks it among all slices' Dice.
    dice = result.per_slice_dice[1]
    middle = len(dice) // 2
    viewer.dims.set_point(0, float(image.data_to_world([middle, 0, 0])[0]))
    close_toasts(viewer)
    viewer.reset_view()
    settle()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(path=args.out, canvas_only=False)
    print(f"{args.out}: slice {middle}; {widget.summary.text()}")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
