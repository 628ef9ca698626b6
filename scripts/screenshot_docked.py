"""Make ``docs/docked.png``: the Segment, Fine-tune and Validate widgets docked together.

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/screenshot_docked.py [--out docs/docked.png]

Opens the "Synthetic nuclei (2D)" sample, docks the three widgets on the right (napari
stacks them in one column) and saves a screenshot of the whole window, to check that
every help text stays readable when the dock is shared.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _screens import close_toasts, settle

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "docked.png"))
    parser.add_argument("--size", type=int, nargs=2, default=(1600, 1000), metavar=("W", "H"))
    args = parser.parse_args()

    import napari

    viewer = napari.Viewer(title="napari-unetseg: three widgets docked")
    viewer.window.resize(*args.size)
    viewer.open_sample("napari-unetseg", "nuclei_2d")
    widgets = {}
    for name in ("Segment", "Fine-tune", "Validate"):
        _, widgets[name] = viewer.window.add_plugin_dock_widget("napari-unetseg", name)
    settle(2.0)
    close_toasts(viewer)
    settle()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(path=args.out, canvas_only=False)
    hint = widgets["Validate"].mode_hint
    print(
        f"{args.out}: Validate help text {hint.width()}x{hint.height()} px "
        f"(needs {hint.heightForWidth(hint.width())} px)"
    )
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
