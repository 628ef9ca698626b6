"""Make ``docs/finetune.png``: the Fine-tune widget after a short run on painted scribbles.

    xvfb-run -a python scripts/screenshot_finetune.py [--seconds 60] [--out docs/finetune.png]

Opens the "Synthetic nuclei (2D)" sample, docks the Fine-tune widget, makes a scribble
layer and paints a few strokes of background and nuclei into it (as a user would, from
the hidden ground truth), trains for ``--seconds`` and saves a screenshot of the whole
window with the live curve and the preview. ``--start`` picks the starting model; the
default, a new model, shows the validation Dice climbing from nothing (the shipped
``nuclei-2d`` already scores about 1 on synthetic nuclei, a flat curve).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _screens import close_toasts

ROOT = Path(__file__).resolve().parent.parent


def _wait(seconds: float, until: object = None) -> None:
    from qtpy.QtWidgets import QApplication

    deadline = time.time() + seconds
    while time.time() < deadline and (until is None or not until()):
        QApplication.processEvents()
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="training budget")
    parser.add_argument("--out", default=str(ROOT / "docs" / "finetune.png"))
    parser.add_argument("--start", default=None, help="model name (default: a new model)")
    args = parser.parse_args()

    import napari
    import numpy as np
    import torch

    from napari_unetseg._qt import finetune as fw
    from napari_unetseg.core.synthetic import synthetic_scribbles

    torch.set_num_threads(1)
    viewer = napari.Viewer(title="napari-unetseg: Fine-tune")
    viewer.window.resize(1500, 1000)
    viewer.open_sample("napari-unetseg", "nuclei_2d")
    truth = viewer.layers["nuclei 2D ground truth"]
    truth.visible = False
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Fine-tune")
    widget.image_combo.set_layer(viewer.layers["nuclei 2D"])
    widget.start_combo.set_model_name(args.start or fw.SCRATCH)
    scribbles = widget.new_scribble_layer()
    strokes = synthetic_scribbles(
        np.asarray(truth.data), n_objects=14, n_background=14, seed=3, width=5, length=40
    )
    scribbles.data = strokes
    widget.budget_spin.setValue(args.seconds)
    widget.preview_spin.setValue(20)
    fw.WARMED_UP.wait(120)
    widget.train()
    _wait(args.seconds + 120, until=lambda: not widget.runner.busy)
    _wait(1.0)
    close_toasts(viewer)  # toasts would hide the canvas
    viewer.reset_view()
    viewer.scene.camera.zoom *= 1.5  # closer, so strokes and preview are visible
    _wait(0.5)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(path=args.out, canvas_only=False)
    print(f"{args.out}: {widget.status.text()}")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
