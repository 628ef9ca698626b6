"""How long napari's event loop stalls while the plugin works (target: < 200 ms).

A 10 ms ``QTimer`` ticks in a real, shown napari viewer; the largest gap between two
ticks, minus the 10 ms, is the longest time the GUI could not respond (a click, a
repaint). Measured for each activity of the plugin's widgets:

- **training**: Fine-tune from ``nuclei-2d`` on a 512x512 image with scribbles (no preview);
- **training with preview**: the same with the live preview every 2 steps (each preview
  is written into a 512x512 Labels layer in the GUI thread);
- **segmenting**: Segment on a 2048x2048 image with ``nuclei-2d``;
- **validating**: Validate a 2048x2048 prediction against its ground truth, with the
  error overlay and the per-class table.

Each activity is followed by :data:`~napari_unetseg._qt._worker.QUIET_S` + 1 s with no
input, measured apart ("then, quiet"): the full garbage collection that the plugin holds
back while its jobs run happens there, once mouse and keyboard rest.

With ``--why`` a watchdog thread samples the GUI thread's stack whenever a stall passes
100 ms and prints the frames seen most, to find what blocks.

Usage::

    xvfb-run -a python benchmarks/bench_responsiveness.py [--quick] [--why] [--json PATH]

``--quick`` trains 4 s instead of 15 s. The table goes to stdout; ``--json`` (default
``benchmarks/results/responsiveness.json``) feeds docs/reliability.md
(``scripts/make_reliability_doc.py``). The figures depend on the machine's load: the
load average is printed with them.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import platform
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
TICK_MS = 10
#: Seconds given to napari to paint its new window and layers before measuring: the
#: viewer's own start-up is not the plugin's doing.
SETTLE_S = 3.0
WHY_MS = 100


def _short(frame_line: str) -> str:
    """'File ".../pkg/mod.py", line 12, in f' -> 'pkg/mod.py:12 f'."""
    try:
        path, line, func = frame_line.split(", ")
        path = "/".join(path.split('"')[1].split("/")[-2:])
        return f"{path}:{line.split()[-1]} {func.removeprefix('in ')}"
    except ValueError:
        return frame_line


class StallMeter:
    """The largest gap between the ticks of a 10 ms QTimer, minus the 10 ms."""

    def __init__(self, why: bool = False) -> None:
        from qtpy.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.last = time.perf_counter()
        self.worst = 0.0
        self.gaps: list[float] = []
        self.why = why
        self.after = 0.0  # the worst stall in the quiet seconds after the job (measure_run)
        self.stacks: collections.Counter[str] = collections.Counter()
        self._gui = threading.get_ident()
        self._watch: threading.Thread | None = None
        self._running = False

    def _tick(self) -> None:
        now = time.perf_counter()
        gap = (now - self.last) * 1000 - TICK_MS
        self.last = now
        self.gaps.append(gap)
        self.worst = max(self.worst, gap)

    def _watchdog(self) -> None:
        while self._running:
            time.sleep(0.02)
            if (time.perf_counter() - self.last) * 1000 > WHY_MS:
                frame = sys._current_frames().get(self._gui)
                if frame is not None:
                    lines = [ln.strip().splitlines()[0] for ln in traceback.format_stack(frame)]
                    ours = [ln for ln in lines if "napari_unetseg" in ln]
                    entry = ours[-1] if ours else "(napari / Qt)"
                    self.stacks[f"{_short(entry)}  ...  {_short(lines[-1])}"] += 1

    def __enter__(self) -> StallMeter:
        self.last = time.perf_counter()
        self.timer.start()
        if self.why:
            self._running = True
            self._watch = threading.Thread(target=self._watchdog, daemon=True)
            self._watch.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.timer.stop()
        self._running = False

    def p99(self) -> float:
        return float(np.percentile(self.gaps, 99)) if self.gaps else 0.0


def wait_for(runner: Any, timeout: float = 600.0) -> None:
    """Run the event loop until the widget's job has finished."""
    from qtpy.QtCore import QEventLoop, QTimer

    if not runner.busy:
        return
    loop = QEventLoop()
    runner.finished.connect(loop.quit)
    QTimer.singleShot(int(timeout * 1000), loop.quit)
    loop.exec()


def settle(app: Any, seconds: float = 0.5) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)


def _scribbles(truth: np.ndarray) -> np.ndarray:
    """Strokes a user might paint: background (1) rows and a few nuclei (2)."""
    s = np.zeros(truth.shape, np.uint8)
    s[::37, :] = np.where(truth[::37, :] == 0, 1, 0)
    ids = [i for i in np.unique(truth) if i][:12]
    s[np.isin(truth, ids)] = 2
    return s


def measure_run(app: Any, widget: Any, start: Any, why: bool) -> tuple[StallMeter, float]:
    """Settle, then measure from ``start()`` until the widget's job has ended; then,
    separately, the quiet seconds after it (``widget.after``), when the full garbage
    collection that jobs hold back runs (nobody touches mouse or keyboard here)."""
    from napari_unetseg._qt import _worker

    settle(app, SETTLE_S)
    t0 = time.perf_counter()
    with StallMeter(why) as meter:
        start()
        wait_for(widget.runner)
        settle(app, 0.3)
    seconds = time.perf_counter() - t0
    with StallMeter(why) as after:
        settle(app, _worker.QUIET_S + 1.0)
    meter.after = after.worst
    return meter, seconds


def _result(meter: StallMeter, note: str) -> dict:
    return {
        "stall": meter.worst,
        "p99": meter.p99(),
        "after": meter.after,
        "note": note,
        "why": meter.stacks,
    }


def measure_training(viewer: Any, app: Any, seconds: float, preview: bool, why: bool) -> dict:
    from napari_unetseg._qt.finetune import FinetuneWidget
    from napari_unetseg.core.synthetic import synthetic_nuclei

    image, truth = synthetic_nuclei((512, 512), seed=11)
    viewer.layers.clear()
    img = viewer.add_image(image, name="cells")
    lab = viewer.add_labels(_scribbles(truth), name="cells scribbles")
    widget = FinetuneWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Fine-tune")
    widget.image_combo.set_layer(img)
    widget.labels_combo.set_layer(lab)
    widget.start_combo.set_model_name("nuclei-2d")
    widget.budget_unit.setCurrentIndex(widget.budget_unit.findText("seconds"))
    widget.budget_spin.setValue(int(seconds))
    widget.preview_check.setChecked(preview)
    widget.preview_spin.setValue(2)
    meter, _ = measure_run(app, widget, widget.train, why)
    steps = (widget.trained.history.get("steps") if widget.trained else 0) or 0
    return _result(meter, f"{steps} steps")


def measure_segmenting(viewer: Any, app: Any, why: bool) -> dict:
    from napari_unetseg._qt.segment_widget import SegmentWidget
    from napari_unetseg.core.synthetic import synthetic_nuclei

    image, _ = synthetic_nuclei((2048, 2048), seed=12)
    viewer.layers.clear()
    img = viewer.add_image(image, name="big")
    widget = SegmentWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Segment")
    widget.image_combo.set_layer(img)
    widget.model_combo.set_model_name("nuclei-2d")
    meter, seconds = measure_run(app, widget, widget.run, why)
    return _result(meter, f"{seconds:.0f} s run")


def measure_validating(viewer: Any, app: Any, why: bool) -> dict:
    from napari_unetseg._qt.validate_widget import ValidateWidget
    from napari_unetseg.core.synthetic import synthetic_nuclei

    _, truth = synthetic_nuclei((2048, 2048), seed=13)
    pred = np.roll(truth, 3, axis=1)
    viewer.layers.clear()
    p = viewer.add_labels(pred, name="prediction")
    g = viewer.add_labels(truth, name="ground truth")
    widget = ValidateWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Validate")
    widget.pred_combo.set_layer(p)
    widget.gt_combo.set_layer(g)
    meter, seconds = measure_run(app, widget, widget.run, why)
    return _result(meter, f"{seconds:.0f} s run")


ACTIVITIES = {
    "training": lambda v, a, s, w: measure_training(v, a, s, False, w),
    "training with preview": lambda v, a, s, w: measure_training(v, a, s, True, w),
    "segmenting 2048x2048": lambda v, a, s, w: measure_segmenting(v, a, w),
    "validating 2048x2048": lambda v, a, s, w: measure_validating(v, a, w),
}


def child(name: str, quick: bool, why: bool) -> int:
    """Measure one activity in this process and print its result as one JSON line."""
    import napari

    viewer = napari.Viewer(show=True)
    app = napari.qt.get_qapp()
    result = ACTIVITIES[name](viewer, app, 4 if quick else 15, why)
    print("RESULT " + json.dumps({**result, "why": dict(result["why"])}), flush=True)
    os._exit(0)  # skip the teardown of Qt and torch threads: the figure is printed


def machine() -> str:
    import torch

    return f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="train 4 s instead of 15 s")
    parser.add_argument("--why", action="store_true", help="print what blocked the GUI")
    parser.add_argument("--json", default=str(HERE / "results" / "responsiveness.json"))
    parser.add_argument("--only", nargs="*", default=None, help="activities to run (default: all)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        return child(args.child, args.quick, args.why)
    results = {}
    load_before = os.getloadavg()
    for name in ACTIVITIES:
        if args.only and not any(o in name for o in args.only):
            continue
        # One process per activity: a fresh viewer, no widget of another activity left.
        cmd = [sys.executable, __file__, "--child", name] + ["--quick"] * args.quick
        done = subprocess.run(cmd + ["--why"] * args.why, capture_output=True, text=True)
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
        if not lines:
            print(f"  {name}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        results[name] = json.loads(lines[-1].removeprefix("RESULT "))
        results[name]["why"] = collections.Counter(results[name]["why"])
        print(f"  {name}: largest stall {results[name]['stall']:.0f} ms", flush=True)
    load = " / ".join(f"{(a + b) / 2:.1f}" for a, b in zip(load_before, os.getloadavg()))

    print()
    print(f"Event-loop stalls ({TICK_MS} ms QTimer in a shown napari viewer); load average {load}")
    print("| activity | largest stall (ms) | 99th percentile gap (ms) | run | then, quiet (ms) |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['stall']:.0f} | {r['p99']:.0f} | {r['note']} | {r['after']:.0f} |")
    if args.why:
        for name, r in results.items():
            if r["why"]:
                print(f"\n{name}: GUI-thread frames during stalls > {WHY_MS} ms")
                for frame, n in r["why"].most_common(6):
                    print(f"  {n:4d} x {frame}")
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(
                {
                    "stalls_ms": {k: round(v["stall"], 1) for k, v in results.items()},
                    "p99_ms": {k: round(v["p99"], 1) for k, v in results.items()},
                    # the held-back full collection, with no input after the job
                    "quiet_after_ms": {k: round(v["after"], 1) for k, v in results.items()},
                    "when": datetime.date.today().isoformat(),
                    "machine": machine(),
                    "load": load,
                    "command": "python benchmarks/bench_responsiveness.py"
                    + (" --quick" if args.quick else ""),
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
