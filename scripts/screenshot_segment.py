"""Make ``docs/segment.png``: the viewer with the Segment widget after a run.

    xvfb-run -a python scripts/screenshot_segment.py [--model nuclei-2d] [--out docs/segment.png]
        [--folder-out docs/segment_folder.png]

Opens the "Synthetic nuclei (2D)" sample, docks the Segment widget, segments the image
with "Split touching objects" on, and saves a screenshot of the whole window. When the
shipped ``nuclei-2d`` model is not installed, a small demo model is trained on synthetic
nuclei for ``--train-seconds`` seconds instead (the screenshot then says so in the
model list). ``--folder-out`` also runs "Apply to folder..." on a few synthetic images
(one of them a damaged file) and saves a picture of that dialog with its summary.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _screens import close_toasts

ROOT = Path(__file__).resolve().parent.parent


def _demo_model(seconds: float) -> str:
    """Train a quick 2D nuclei model (dense labels) and register it for this session."""
    import numpy as np

    from napari_unetseg import api
    from napari_unetseg.core.synthetic import synthetic_nuclei

    pairs = [synthetic_nuclei((256, 256), seed=100 + i) for i in range(8)]
    images = [p[0] for p in pairs]
    masks = [(p[1] > 0).astype(np.uint8) for p in pairs]
    bundle = api.train(
        images, masks, label_mode="dense", n_classes=2, time_limit=seconds, device="cpu", seed=0
    )
    bundle.class_names = ["background", "nucleus"]
    return api.REGISTRY.register(bundle, "nuclei-2d (demo)")


def _wait(runner: object, seconds: float = 300) -> None:
    from qtpy.QtWidgets import QApplication

    deadline = time.time() + seconds
    while runner.busy and time.time() < deadline:
        QApplication.processEvents()
        time.sleep(0.02)
    for _ in range(20):  # let the notification and the widgets settle
        QApplication.processEvents()
        time.sleep(0.05)


def _folder_screenshot(widget: object, out: str) -> None:
    """Segment a temporary folder with the widget's settings; save the dialog's picture."""
    import tempfile

    import numpy as np

    from napari_unetseg import _io
    from napari_unetseg.core.synthetic import synthetic_nuclei

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "experiment 12"
        for i in range(5):
            image, _ = synthetic_nuclei((384, 384), seed=20 + i)
            _io.write_image(
                folder / f"well_B{i + 2:02d}.tif", image, scale=(0.32, 0.32), axes="YX"
            )
        stack = np.stack([synthetic_nuclei((256, 256), seed=40 + z)[0] for z in range(4)])
        _io.write_image(folder / "well_C02_stack.tif", stack, scale=(1.0, 0.32, 0.32), axes="ZYX")
        (folder / "well_C03.tif").write_bytes(b"II*\x00 transfer interrupted")
        dialog = widget.apply_to_folder()
        dialog.set_inputs(folder)
        dialog.set_output(Path(tmp) / "labels")
        dialog.resize(720, 430)
        dialog.run()
        _wait(dialog.runner)
        dialog.grab().save(out)
        print(f"{out}: {dialog.status.text().splitlines()[0]}")
        dialog.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nuclei-2d", help="model name or model file")
    parser.add_argument("--save-demo", default=None, help="also save the demo model here")
    parser.add_argument("--out", default=str(ROOT / "docs" / "segment.png"))
    parser.add_argument("--train-seconds", type=float, default=45.0)
    parser.add_argument("--folder-out", default=None, help="also picture 'Apply to folder...'")
    args = parser.parse_args()

    import napari
    import torch
    from qtpy.QtWidgets import QApplication

    from napari_unetseg.core.registry import REGISTRY

    torch.set_num_threads(1)
    if args.model in REGISTRY:
        model = args.model
    elif Path(args.model).is_file():
        from napari_unetseg.core.bundle import ModelBundle

        model = REGISTRY.register(ModelBundle.load(args.model))
    else:
        model = _demo_model(args.train_seconds)
        if args.save_demo:
            REGISTRY.get(model).save(args.save_demo)

    viewer = napari.Viewer(title="napari-unetseg: Segment")
    viewer.window.resize(1500, 900)
    viewer.open_sample("napari-unetseg", "nuclei_2d")
    viewer.layers["nuclei 2D ground truth"].visible = False
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    widget.image_combo.set_layer(viewer.layers["nuclei 2D"])
    widget.model_combo.set_model_name(model)
    widget.split_check.setChecked(True)
    widget.advanced.expand(animate=False)
    widget.run()
    _wait(widget.runner)
    close_toasts(viewer)
    viewer.reset_view()
    viewer.camera.zoom *= 1.6  # a closer look at touching nuclei, as a user would
    viewer.camera.center = (0, 300, 200)
    QApplication.processEvents()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(path=args.out, canvas_only=False)
    print(f"{args.out}: model {model!r}; {widget.status.text()}")
    if args.folder_out:
        _folder_screenshot(widget, args.folder_out)
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
