"""The small sub-commands: ``models``, ``export``, ``sample`` and ``info``."""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from ._base import CLIError, numbers


# -- models -------------------------------------------------------------------------------
def _add_models(sub: Any) -> None:
    p = sub.add_parser("models", help="list the shipped and saved models")
    p.set_defaults(func=_cmd_models)


def _cmd_models(args: argparse.Namespace) -> int:
    from .. import api
    from ..core.bundle import ModelFileError
    from ..core.registry import MODELS_DIR_ENV

    rows = api.list_models()
    if not rows:
        print("No models are installed.")
    for row in rows:
        try:
            about = api.load_model(row["name"]).summary()
        except (ModelFileError, OSError) as exc:  # a damaged saved file: say so, go on
            about = f"cannot be read: {exc}"
        kind = "" if row["kind"] == "shipped" else f"{row['kind']}, "
        print(f"{row['name']:<16} {about}  ({kind}{row['path']})")
    folder = api.REGISTRY.saved_dir
    if folder is not None and folder.exists() and not folder.is_dir():
        print(
            f"Saved models: none, {folder} is a file, not a folder; set "
            f"{MODELS_DIR_ENV} to a folder to keep models in."
        )
    elif folder is not None:
        print(
            f"Saved models: {folder} (unetseg train --save-as NAME, or the Fine-tune widget's "
            "Save model..., puts them there)."
        )
    for path in api.REGISTRY.hidden():  # left out of the list above without a word
        print(
            f"Not listed: {path} has a shipped model's name, which loads the shipped one; "
            "rename the file, or give its path as --model."
        )
    return 0


# -- export -------------------------------------------------------------------------------
def _add_export(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="write a model as a bioimage.io model package (for ilastik, deepImageJ, the zoo)",
    )
    p.add_argument(
        "model", help="model name (see `unetseg models`), .pt file or bioimage.io package"
    )
    p.add_argument(
        "--format",
        choices=["bioimageio"],
        default="bioimageio",
        help="package format: a bioimage.io model package (the only one; the default)",
    )
    p.add_argument("--output", "-o", required=True, help="package to write (.zip)")
    p.add_argument(
        "--test-image",
        help="TIFF whose first plane/volume becomes the test tensors (default: synthetic nuclei)",
    )
    p.add_argument(
        "--channel",
        type=int,
        default=None,
        metavar="N",
        help="test with channel N (from 0) of a multi-channel --test-image (one-channel models)",
    )
    p.add_argument(
        "--author",
        action="append",
        help="author name (repeat for several; default: those of the package or shipped "
        "model MODEL is or was fine-tuned from)",
    )
    p.add_argument(
        "--license",
        default=None,
        help="SPDX licence id (default: that of the package or shipped model MODEL is or "
        "was fine-tuned from, else CC-BY-4.0)",
    )
    p.add_argument("--description", help="one-sentence description")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    p.add_argument(
        "--no-onnx",
        dest="onnx",
        action="store_const",
        const=False,
        default=None,
        help="leave out the ONNX weights (for tools without PyTorch; a few seconds to write)",
    )
    p.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from .. import _io, api
    from ..core.files import check_name_length

    out = Path(args.output)
    if out.suffix.lower() != ".zip":
        raise CLIError(f"--output {args.output!r} must end in .zip (a bioimage.io package).")
    check_name_length(out)
    if out.exists() and not args.overwrite:  # before the model and the test image load
        raise CLIError(f"{args.output!r} exists; choose another name or pass --overwrite.")
    bundle = api.load_model(args.model)
    image = _io.read_image(args.test_image) if args.test_image else None
    if args.channel is not None:
        if image is None:
            raise CLIError("--channel chooses a channel of --test-image; give one.")
        image = image.one_channel(args.channel)
    spatial = image.without_channels() if image is not None else None
    pixel_size = unit = None
    # The package's axes state the pixel size the model was trained at: the test image's
    # only stands in where the model records none (a NIfTI model in mm was exported as
    # µm, 1000 times off, with a TIFF test image; train bug bash).
    recorded = (bundle.object_size or {}).get("pixel_size") is not None
    if spatial is not None and spatial.units and not recorded:
        from .._units import length_unit

        if length_unit(spatial.units[-1]) is not None:  # (not in pixels or seconds)
            pixel_size, unit = spatial.scale, spatial.units[-1]
    path = bundle.export_bioimageio(
        out,
        test_image=None if image is None else image.data,
        channel_axis=None if image is None else image.channel_axis,
        pixel_size=pixel_size,
        unit=unit,
        authors=args.author,
        license=args.license,
        description=args.description,
        overwrite=args.overwrite,
        onnx=args.onnx,
    )
    print(f"wrote {path} (bioimage.io model package of {bundle.name!r})")
    return 0


# -- sample -------------------------------------------------------------------------------
def _add_sample(sub: Any) -> None:
    p = sub.add_parser(
        "sample", help="write a synthetic nuclei image (and its ground truth) to try things"
    )
    p.add_argument(
        "output",
        help="image TIFF to write (.tif / .tiff); the ground truth goes to "
        "<stem>_ground_truth.tif. A name ending in .ome.zarr writes an OME-Zarr image with "
        "its ground truth under labels/ground_truth (to try the block-by-block commands)",
    )
    p.add_argument(
        "--shape",
        type=numbers(int, files_after=True),
        nargs="+",
        default=[512, 512],
        help="Y X or Z Y X (default 512 512)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed, 0 or more (default 0)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing files of these names that hold other images (the same "
        "sample again is always written)",
    )
    p.set_defaults(func=_cmd_sample)


#: Peak bytes per pixel of :func:`~napari_unetseg.core.synthetic.synthetic_nuclei` with its
#: image and labels (measured: about 73 for 1024x1024 and 32x256x256; a margin added).
SAMPLE_BYTES_PER_PIXEL = 80


def _check_sample_args(args: argparse.Namespace) -> None:
    """Refuse a non-TIFF name, a negative seed or a shape that cannot fit in memory."""
    from ..core.guards import check_memory

    if not args.output.lower().rstrip("/\\").endswith((".tif", ".tiff", ".zarr")):
        raise CLIError(
            f"The sample is written as an OME-TIFF or an OME-Zarr store, so its name must "
            f"end in .tif, .tiff or .ome.zarr (.zarr), not {args.output!r}."
        )
    if args.seed < 0:
        raise CLIError(f"--seed must be 0 or more, got {args.seed}.")
    if len(args.shape) not in (2, 3):
        raise CLIError("--shape takes 2 (Y X) or 3 (Z Y X) sizes.")
    if all(s > 0 for s in args.shape):  # other sizes: refused by synthetic_nuclei
        size = "x".join(map(str, args.shape))
        check_memory(
            SAMPLE_BYTES_PER_PIXEL * math.prod(args.shape),
            f"A {size} sample",
            hint="give a smaller --shape",
        )


def _cmd_sample(args: argparse.Namespace) -> int:
    from .. import _io
    from ..core.synthetic import synthetic_nuclei

    _check_sample_args(args)
    out = Path(args.output)
    if out.name.lower().endswith(".zarr"):
        return _sample_store(out, args)
    # run.1.tif -> run.1_ground_truth.tif (it was run_ground_truth.tif, shared with run.2)
    lab = out.with_name(_io.image_name(out) + "_ground_truth.tif")
    if lab.is_dir():  # refused before the image is written
        raise CLIError(f"The ground truth would go to {str(lab)!r}, which is a folder.")
    image, labels = synthetic_nuclei(tuple(args.shape), seed=args.seed)
    if not args.overwrite:
        _check_not_another(out, image)
        _check_not_another(lab, labels)
    axes = "YX" if image.ndim == 2 else "ZYX"
    _io.write_image(out, image, axes=axes)
    _io.write_labels(lab, labels, axes=axes)
    print(f"wrote {out} and {lab} ({'x'.join(map(str, image.shape))})")
    return 0


def _sample_store(out: Path, args: argparse.Namespace) -> int:
    """``unetseg sample x.ome.zarr``: the sample as an OME-Zarr image, its ground truth
    under ``labels/ground_truth``. A store that holds this very sample already is left as
    it is, with the labels a run added to it."""
    import numpy as np

    from .._zarr_save import write_image_store
    from ..core.synthetic import synthetic_nuclei

    image, labels = synthetic_nuclei(tuple(args.shape), seed=args.seed)
    size = "x".join(map(str, image.shape))
    axes = "YX" if image.ndim == 2 else "ZYX"
    if not args.overwrite and _check_not_another(out, image):
        truth = _ground_truth(out)
        if truth is None:  # removed since: put back (it said "left as it is")
            from .._zarr_save import add_image_labels

            add_image_labels(out, labels, axes, "ground_truth")
            print(f"{out} holds this sample; its ground truth is written again under labels/")
        elif not np.array_equal(truth, labels):
            raise CLIError(
                f"{str(out)!r} holds this sample with other labels under "
                "labels/ground_truth; give another name, or --overwrite to replace it."
            )
        else:
            print(f"{out} holds this sample already ({size}); left as it is")
        return 0
    write_image_store(out, image, axes, labels, label_name="ground_truth")
    print(f"wrote {out} with its ground truth under labels/ground_truth ({size})")
    return 0


def _ground_truth(store: Path) -> Any:
    """The sample store's ``labels/ground_truth`` (full resolution), or None."""
    import numpy as np

    from .. import _io

    try:
        return np.asarray(_io.read_image(store / "labels" / "ground_truth").data)
    except (ValueError, OSError):
        return None


def _check_not_another(path: Path, data: Any) -> bool:
    """Refuse to replace a file that holds anything but this very sample (a user's own
    nuclei.tif was overwritten without a word); the same sample again is no loss, so the
    README's first command can be run twice. Returns whether it holds this sample."""
    import numpy as np

    from .. import _io

    if not path.exists():
        return False
    try:
        same = np.array_equal(np.asarray(_io.read_image(path).data), data)
    except (ValueError, OSError):
        same = False
    if not same:
        raise CLIError(
            f"{str(path)!r} exists and holds another image; give another name, or "
            "--overwrite to replace it."
        )
    return True


# -- info ---------------------------------------------------------------------------------
def _add_info(sub: Any) -> None:
    p = sub.add_parser(
        "info",
        help="describe an image: shape, axes, pixel size and, for labels written by "
        "napari-unetseg, the model, its file hash and the settings that made them; "
        "or a model (file .pt, bioimage.io .zip, or name): its dimensions, channels, "
        "classes, object size and training",
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="TIFF / OME-TIFF file(s), OME-Zarr stores (.zarr, .ome.zarr), NIfTI (.nii, "
        ".nii.gz) or PNG / JPEG / BMP / GIF / WebP images; model files (.pt, .zip)",
    )
    p.set_defaults(func=_cmd_info)


def _sizes_text(img: Any) -> str:
    """``Z 2 µm, Y 0.5 µm, X 0.5 µm`` (and ``T 1 s`` where time has a unit): the axes
    that have a size, not channels (no size) nor a time step of unknown unit."""
    units = img.units or ("",) * len(img.axes)
    return ", ".join(
        f"{a} {s:g}{' ' + u if u else ''}"
        for a, s, u in zip(img.axes, img.scale, units, strict=True)
        if a not in "CS" and not (a == "T" and u in ("", "pixel"))
    )


def _layout_lines(img: Any) -> list[str]:
    """What else an image holds: its origin (a translation), channel names, the levels
    of a pyramid and the label groups beside it (an OME-Zarr store's)."""
    lines = []
    units = img.units or ("",) * len(img.axes)
    translate = getattr(img, "translate", None)  # the fields of a store's image
    levels, labels = getattr(img, "levels", None), getattr(img, "labels", None)
    if translate is not None and any(float(t) for t in translate):
        lines.append(
            "origin: "
            + ", ".join(
                f"{a} {t:g}{' ' + u if u not in ('', 'pixel') else ''}"
                for a, t, u in zip(img.axes, translate, units, strict=True)
                if a not in "CS"
            )
        )
    if getattr(img, "channel_names", None):
        lines.append("channels: " + ", ".join(map(str, img.channel_names)))
    if levels and len(levels) > 1:
        shapes = ", ".join("x".join(map(str, level.shape)) for level in levels)
        lines.append(f"pyramid: {len(levels)} levels, {shapes}")
    if labels:
        lines.append("labels: " + ", ".join(sorted(labels)))
    return lines


def _tiff_levels(path: str, img: Any) -> list[str]:
    """The pyramid of a TIFF's series read (an OME-TIFF's sub-resolutions), as a store's
    is described (it said nothing of them; TIFF bug bash)."""
    if getattr(img, "levels", None) or not path.lower().endswith((".tif", ".tiff")):
        return []
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[int(getattr(img, "series", 0) or 0)]
            shapes = [tuple(level.shape) for level in series.levels]
    except Exception:  # noqa: BLE001 - read as an image already: no pyramid to tell
        return []
    if len(shapes) < 2:
        return []
    return [f"pyramid: {len(shapes)} levels, " + ", ".join("x".join(map(str, s)) for s in shapes)]


#: Names of model files: ours (.pt, .pth), bioimage.io packages and their descriptions.
MODEL_SUFFIXES = (".pt", ".pth", ".zip", ".yaml", ".yml")


def _is_model_file(path: str) -> bool:
    """A PyTorch model file or a bioimage.io package (``unetseg info`` describes it;
    neither is an image napari-unetseg reads): named .pt, .pth or .zip, or a file that
    starts as a zip archive does, as torch saves (a model named .pth or without a suffix
    was told to become an OME-TIFF, though predict ran it; paths bug bash); an unpacked
    bioimage.io package, its ``rdf.yaml`` or its folder (``info rdf.yaml`` was refused as
    an image napari-unetseg does not read, though ``predict --model rdf.yaml`` ran it)."""
    if Path(path).is_dir():
        return (Path(path) / "rdf.yaml").is_file() or any(Path(path).glob("*.bioimageio.yaml"))
    if not Path(path).is_file():
        return False
    if path.lower().endswith(MODEL_SUFFIXES):
        return True
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _check_exists(src: str) -> None:
    """One sentence for a name that is no file: a model file's, or neither a file nor a
    model's ("Image file 'bf2' does not exist" of a model's name mistyped, or of a saved
    model whose folder was not set; train bug bash)."""
    if Path(src).exists():
        return
    if src.lower().endswith(MODEL_SUFFIXES):
        raise CLIError(f"Model file {src!r} does not exist.")
    if not Path(src).suffix:
        raise CLIError(
            f"{src!r} is neither a file nor a model's name (`unetseg models` lists the "
            "models and the folder saved ones are read from)."
        )


def _model_lines(bundle: Any) -> list[str]:
    """What a model file records besides its summary: the object size it predicts at
    (and the pixel size it was trained at), its training, hole filling (the info of a
    model said its classes only; train bug bash)."""
    from ..core.intensity import describe_normalization
    from ..core.training import score_text

    lines = []
    size = bundle.object_size or {}
    if size.get("diameter") is not None:
        ps, unit = size.get("pixel_size"), size.get("unit")
        at = ""
        if ps is not None:
            values = ps if isinstance(ps, (list, tuple)) else [ps]
            at = f" at a pixel size of {' x '.join(f'{float(v):g}' for v in values)}"
            at += f" {unit}" if unit else ""
        lines.append(f"object size: {float(size['diameter']):.1f} px{at}")
    else:
        lines.append("object size: not recorded (predicts at the image's own scale)")
    history = bundle.history or {}
    if history.get("steps") is not None:  # the last run (its best step is of that run)
        trained = f"trained: {history['steps']} steps"
        if history.get("duration_s") is not None:
            trained += f" in {float(history['duration_s']):.0f} s"
        if history.get("label_mode"):
            trained += f" on {history['label_mode']} labels"
        score = score_text(history)
        lines.append(trained + (f"; {score}" if score else ""))
        if isinstance(history.get("stopped"), str):  # (it read as finished; CLI bash)
            lines.append(f"stopped early: {history['stopped']}")
        if isinstance(history.get("started_from"), str):
            lines.append(f"started from: {history['started_from']}")
        lines.extend(_run_lines(history))
    lines.append(f"holes filled: {'yes' if bundle.fill_holes else 'no'} (by default)")
    lines.append(
        f"touching objects split: {'yes' if bundle.split_touching else 'no'} (by default)"
    )
    lines.append(f"input normalization: {describe_normalization(bundle.normalization)}")
    return lines


def _run_lines(history: dict[str, Any]) -> list[str]:
    """What repeats the last run's weights (seed, threads, precision: recorded, but not
    shown; reproducibility bash) and what made it, where the model records them."""
    from ..commands import PRECISION_NAMES

    parts = [f"seed {history['seed']}"] if history.get("seed") is not None else []
    if history.get("threads") is not None:
        parts.append(f"{history['threads']} thread{'s' if history['threads'] != 1 else ''}")
    if history.get("precision") in PRECISION_NAMES:
        parts.append(PRECISION_NAMES[history["precision"]])
    if history.get("device"):
        parts.append(f"on {history['device']}")
    if history.get("time_limit_s") is not None:  # its steps followed the time used
        limit = float(history["time_limit_s"])
        parts.append(f"a {limit:g} s time limit (its steps followed the time: not repeatable)")
    made = [str(history[k]) for k in ("software", "created") if history.get(k)]
    if history.get("torch"):
        made.insert(1 if made else 0, f"torch {history['torch']}")
    lines = [f"run: {', '.join(parts)}"] if parts else []
    return lines + ([f"made with: {', '.join(made)}"] if made else [])


def _cmd_info(args: argparse.Namespace) -> int:
    from ..core.files import os_error_sentence
    from . import USER_ERRORS

    failed = []
    for i, src in enumerate(args.files):
        try:
            _describe(src, i - len(failed))  # (a blank line between those described)
        except BrokenPipeError:  # stdout closed (`| head`): the command's end, quietly
            raise
        except (CLIError, *USER_ERRORS) as exc:
            if len(args.files) == 1:
                raise
            # the others described still: `info *.tif` stopped at the first unreadable
            # file, its inventory cut short (CLI bash)
            failed.append(src)
            said = str(os_error_sentence(exc) or (exc.args[0] if exc.args else exc))
            said = said if src in said else f"{src}: {said}"
            print(f"unetseg: error: {said}", file=sys.stderr)
    if failed:
        print(
            f"unetseg: error: {len(failed)} of {len(args.files)} files could not be described.",
            file=sys.stderr,
        )
        return 1
    return 0


def _describe(src: str, i: int) -> None:
    """What `unetseg info` prints of one file or model (the ``i``-th named)."""
    from .. import _io
    from ..commands import repeat_command
    from ..core.registry import REGISTRY
    from ..provenance import describe

    named = not Path(src).exists() and src in REGISTRY.names()
    if not named and Path(src).is_dir() and not _io.is_zarr_path(src) and not _is_model_file(src):
        # (among several, one failure: `info data/*` with a subfolder described nothing)
        raise CLIError(
            f"{src!r} is a folder, not an image file (nor an OME-Zarr store); name the "
            "image files in it."
        )
    if named or _is_model_file(src):  # a model (a file was told to become an OME-TIFF)
        from .. import api

        bundle = api.load_model(src)
        print(("\n" if i else "") + f"{src}: model, {bundle.summary()}")
        if bundle.name and bundle.name != src:  # the name its labels' records give
            print(f"name: {bundle.name}")
        for line in _model_lines(bundle):
            print(line)
        return
    _check_exists(src)
    img = _io.read_image(src, lazy=True)
    sizes = _sizes_text(img)
    kind = "labels" if img.is_labels else "image"
    print(
        ("\n" if i else "") + f"{src}: {kind}, {'x'.join(map(str, img.data.shape))} "
        f"{img.data.dtype}, axes {img.axes}"
    )
    recorded = img.units is not None or any(float(v) != 1.0 for v in img.scale or ())
    # (a store with a scale and no units said "not recorded"; docs bug bash)
    print(f"pixel size: {sizes if recorded else 'not recorded'}")
    for line in _layout_lines(img) + _tiff_levels(src, img):
        print(line)
    for line in describe(img.provenance):
        print(line)
    again = repeat_command(img.provenance, src) if img.is_labels else None
    if again:  # what "auto" chose put in (a reviewer read `ran` to rebuild it)
        print(f"made again by: {again}")
        source = shlex.split(again)[2]
        if not os.path.exists(source):  # the record names the input by its name
            print(f"  (run where {source!r} is: the record names the image by its name)")
