"""Write a model as a bioimage.io model package (spec 0.5), with bioimageio.spec objects."""

from __future__ import annotations

import gc
import inspect
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import torch

from .. import __version__
from .._units import convert_length, length_unit, same_size
from ..core import unet as unet_module
from ..core.bundle import ModelBundle
from ..core.files import atomic_write, check_name_length
from ..core.intensity import intensity_range_of, range_text
from ..core.normalize import PERCENTILE_CLIP, grey_for_model
from ..core.registry import SHIPPED_DIR
from ._common import CONFIG_KEY, HISTORY_FILE, UNITS, PackageError, require_spec
from ._onnx import OPSET, export_onnx, exporter_installed

U_NET_CITATION = (
    "Ronneberger, O., Fischer, P., Brox, T. (2015). U-Net: Convolutional Networks for "
    "Biomedical Image Segmentation. MICCAI 2015, LNCS 9351, 234-241."
)
U_NET_DOI = "10.1007/978-3-319-24574-4_28"
#: The longest test-tensor edge (they travel inside the package).
TEST_EDGE = {2: 256, 3: 64}


#: The longest name bioimage.io takes.
MAX_NAME = 128


def _model_name(bundle: ModelBundle) -> str:
    """bioimage.io names allow letters, digits, ``_+- ()`` and 5 to 128 characters; a
    longer name keeps its start and its end (a fine-tuned model's "-finetuned") around
    "--" (a 132-character name failed the export with pydantic's "1 validation error")."""
    name = re.sub(r"[^A-Za-z0-9_+\- ()]+", "-", bundle.name).strip("- ") or "unet"
    if len(name) > MAX_NAME:
        half = (MAX_NAME - 2) // 2
        name = f"{name[:half].rstrip()}--{name[-half:].lstrip()}"
    return name if len(name) >= 5 else f"{name} U-Net"


def _test_image(
    bundle: ModelBundle, image: Any | None, channel_axis: int | None
) -> tuple[np.ndarray, str]:
    """A (C, *spatial) test input: the middle of the given image's first plane/volume
    (only that block is read), or synthetic nuclei; and how a colour image became the
    model's one channel ("" when it did not).

    Each spatial edge is the largest size the network accepts up to ``TEST_EDGE``.
    """
    sd = bundle.spatial_dims
    if image is None:
        from ..core.synthetic import synthetic_nuclei

        shape = (TEST_EDGE[sd],) * sd
        chans = [synthetic_nuclei(shape, seed=c)[0] for c in range(bundle.in_channels)]
        raw = np.stack(chans).astype(np.float32)
        fixed = intensity_range_of(bundle.normalization)
        if fixed is not None:  # into the model's fixed range: 99.9 % of 0-65535 was
            # clipped to 1, the test output and cover nearly constant (review)
            low, high = fixed
            raw = low + (high - low) * (raw - raw.min()) / max(float(np.ptp(raw)), 1e-12)
        # dark nuclei for a model of dark ones: its sample and cover showed bright nuclei
        # with the background marked (review)
        return (raw.max() - raw if bundle.invert else raw), ""
    from ..core.guards import check_image_dtype

    check_image_dtype(image.dtype if hasattr(image, "dtype") else np.asarray(image).dtype)
    # an RGB training image of a one-channel model was trained on as grey: test on grey
    image, channel_axis, converted = grey_for_model(image, channel_axis, bundle.in_channels)
    layout = bundle.layout(tuple(np.shape(image)), channel_axis)
    div = bundle.divisor
    edges = [min(n, TEST_EDGE[sd]) // div * div for n in layout.spatial_shape]
    if min(edges) < div:
        raise PackageError(
            f"The test image ({'x'.join(map(str, layout.spatial_shape))}) is smaller than the "
            f"model's smallest input ({div} px) along one axis."
        )
    block = tuple(
        slice((n - e) // 2, (n - e) // 2 + e) for n, e in zip(layout.spatial_shape, edges)
    )
    lead = (0,) * len(layout.leading_axes)
    data = layout.to_channels_first(np.asarray(image[layout.index(lead, block)]))
    if bundle.normalization.get("mode") == "percentile" and data.dtype.kind in "iuf":
        # percentile normalization ignores an offset: a channel beyond float32's whole
        # numbers (2**24) starts from its lowest finite value, so float32 keeps its signal
        # (at 1e12 the test input held one value, and the test output and cover nothing;
        # fine-tune bug bash)
        wide = data.astype(np.float64)
        for channel in wide:
            finite = channel[np.isfinite(channel)]
            if finite.size and np.abs(finite).max() >= 2**24:
                channel -= finite.min()
        data = wide
    data = data.astype(np.float32)
    bad = ~np.isfinite(data)
    if bad.any():
        # NaN / Inf stored as they are broke the package for other tools (bioimageio.core
        # predicted NaN where we predict background): the lowest finite value of their
        # channel, the background our normalization makes of them
        if bad.all():
            raise PackageError("The test image has no finite values (all NaN or infinite).")
        for c in range(data.shape[0]):
            finite = data[c][~bad[c]]
            data[c][bad[c]] = finite.min() if finite.size else 0.0
    return np.ascontiguousarray(data), converted


def _scores(bundle: ModelBundle, x: np.ndarray) -> np.ndarray:
    """Per-class probabilities of the network for a normalized (B, C, *spatial) batch."""
    net = bundle.network.eval()
    with torch.inference_mode():
        logits = net(torch.from_numpy(x)).float()
    p = torch.sigmoid(logits) if bundle.n_classes == 1 else torch.softmax(logits, 1)
    return p.numpy()


def _cover(path: Path, raw: np.ndarray, scores: np.ndarray) -> None:
    """Image beside its prediction (labels in colour), a 2:1 PNG.

    ``raw``: (C, *spatial); ``scores``: (K, *spatial); a volume shows its middle plane.
    """
    from matplotlib import colormaps
    from matplotlib.image import imsave

    plane = raw[0] if raw.ndim == 3 else raw[0, raw.shape[1] // 2]
    lo, hi = np.percentile(plane, (1, 99.8))
    grey = np.clip((plane - lo) / max(hi - lo, 1e-12), 0, 1)
    s = scores if scores.ndim == 3 else scores[:, scores.shape[1] // 2]
    labels = (s[0] > 0.5).astype(int) if s.shape[0] == 1 else s.argmax(0)
    colours = colormaps["tab10"](np.arange(10))[:, :3]
    overlay = np.where(
        labels[..., None] > 0,
        0.5 * grey[..., None] + 0.5 * colours[(labels - 1) % 10],
        grey[..., None],
    )
    imsave(path, np.concatenate([np.repeat(grey[..., None], 3, -1), overlay], axis=1))


def _data_tags(h: dict[str, Any], spatial_dims: int) -> list[str]:
    """Tags of the training data's description, from a model's history."""
    kind = "synthetic" if "synthetic" in str(h.get("purpose", "")) else "user-data"
    mode = {"sparse": "scribbles", "dense": "dense-labels"}.get(h.get("label_mode"))
    return [t for t in (kind, f"{spatial_dims}d", mode) if t]


def _training_data(h: dict[str, Any]) -> str:
    """One sentence about the training data, from a model's history."""
    shapes = h.get("data_shapes") or []
    if "synthetic" in str(h.get("purpose", "")):
        return (
            "synthetic nuclei images drawn by napari_unetseg.core.synthetic (see the model card)."
        )
    if not shapes:
        return "not recorded."
    mode = {"sparse": "painted scribbles", "dense": "dense label masks"}.get(
        h.get("label_mode"), "labels"
    )
    listed = ", ".join("x".join(map(str, s)) for s in shapes[:5]) + (
        " ..." if len(shapes) > 5 else ""
    )
    return (
        f"{len(shapes)} image(s) of the napari-unetseg user ({listed}) with {mode} (not included)."
    )


def _ordinal(value: float) -> str:
    """1 -> "1st", 99.8 -> "99.8th", 2 -> "2nd" ("the 1th percentile"; travel bash)."""
    text = f"{float(value):g}"
    whole = text.isdigit() and not 10 <= int(text) % 100 <= 20
    suffix = {"1": "st", "2": "nd", "3": "rd"}.get(text[-1], "th") if whole else "th"
    return text + suffix


def _normalization_line(norm: dict[str, Any]) -> str:
    if norm["mode"] == "none":
        return "- Input normalization: none; the values are used as they are (as float32)."
    fixed = intensity_range_of(norm)
    if fixed is not None:
        return (
            f"- Input normalization: the fixed range {range_text(*fixed)} mapped to "
            "0 / 1 for every image alike, clipped (`scale_linear`, then `clip`)."
        )
    together = "per channel" if norm["per_channel"] else "all channels together"
    return (
        f"- Input normalization: the {_ordinal(norm['low'])} / {_ordinal(norm['high'])} "
        "percentiles of the "
        f"whole image mapped to 0 / 1 ({together}), clipped at {PERCENTILE_CLIP[0]:g} and "
        f"{PERCENTILE_CLIP[1]:g} (hot pixels; `scale_range`, then `clip`)."
    )


def _documentation(bundle: ModelBundle, description: str, input_note: str = "") -> str:
    cfg = bundle.config
    h = bundle.history or {}
    norm = bundle.normalization
    lines = [
        f"# {bundle.name}",
        "",
        description,
        "",
        "## Model",
        "",
        f"- {bundle.spatial_dims}D U-Net (Ronneberger et al. 2015) from napari-unetseg {__version__}: "
        f"depth {cfg['depth']}, {cfg['base_channels']} base channels, {cfg['norm']} norm, "
        f"{cfg['upsampling']} upsampling.",
        f"- Input: {bundle.in_channels} channel(s); every spatial size must be a multiple of "
        f"{bundle.divisor}.",
        f"- Output: per-class probabilities ({'sigmoid' if bundle.n_classes == 1 else 'softmax'}) "
        f"for {', '.join(bundle.class_names)}; labels are the argmax (0.5 threshold for one class).",
        _normalization_line(norm),
    ]
    if bundle.invert:
        lines.append(
            "- Trained on dark objects on a bright background with dark and bright swapped: "
            "the normalized input x becomes 1 - x (`scale_linear`), after percentiles taken "
            "from the other end (`scale_range`)."
        )
    if bundle.object_size:
        o = bundle.object_size
        lines.append(
            f"- Trained for objects of about {o['diameter']:.0f} px in diameter: resample images "
            "so their objects have that size for best results (napari-unetseg does it itself)."
        )
        if o.get("shrink_exponent", 1.0) < 1.0:
            lines.append(
                f"  Images with larger objects are best shrunk by (model size / object size) ** "
                f"{o['shrink_exponent']:g}, i.e. part of the way only."
            )
    lines += ["", "## Training", ""]
    if h:
        lines.append(f"- Data: {_training_data(h)}")
        for key in (
            "purpose",
            "started_from",
            "label_mode",
            "total_steps",
            "steps",
            "duration_s",
            "total_s",
            "best_val_dice",
            "best_val_loss",
            "selected_by",
            "object_size",
        ):
            value = h.get(key)  # ("started from: None" of a new model; travel bash)
            if value is not None and not isinstance(value, (list, dict)):
                if key == "started_from" and os.path.isabs(str(value)):
                    value = Path(str(value)).name  # (not this machine's folders)
                lines.append(f"- {key.replace('_', ' ')}: {value}")
    else:
        lines.append("- No training history was recorded.")
    lines += [
        "",
        "## Validation",
        "",
        "The test tensors are the model's own output on the test input (napari-unetseg, "
        "float32 on the CPU). "
        + (
            f"Best Dice on held-out labeled regions during training: {h['best_val_dice']:.3f}."
            if isinstance(h.get("best_val_dice"), (int, float))
            else "Check it on your images with napari-unetseg's Validate widget or `unetseg evaluate`."
        ),
    ]
    if input_note:  # a colour image made one channel: others must give the same (RGB bug bash)
        lines += [
            "",
            f"The test image was in colour and this model takes one channel. {input_note} "
            "Give the model that channel: the package's preprocessing does not convert "
            "colour images.",
        ]
    lines += [
        "",
        "## Use",
        "",
        "In napari: install `napari-unetseg`, then in the Segment widget choose "
        '"Load model file..." and pick this package (it can be fine-tuned there too). '
        "Headless: `unetseg predict IMAGE --model this.zip`. Any bioimage.io consumer "
        "(bioimageio.core, ilastik, deepImageJ) can run it from its `pytorch_state_dict` "
        "or `torchscript` weights, and tools without PyTorch from its `onnx` weights "
        "where the package has them.",
    ]
    if bundle.source and Path(bundle.source).resolve().parent == SHIPPED_DIR:
        card = (SHIPPED_DIR / "MODEL_CARD.md").read_text(encoding="utf-8")
        lines += ["", "---", "", card]
    return "\n".join(lines) + "\n"


def _licence_id(bio: Any, licence: str) -> Any:
    """``licence`` as the spec's SPDX id, or one sentence with the closest ids when it is
    none (pydantic's own message lists all 700 of them)."""
    import difflib
    import typing

    try:
        return bio.LicenseId(licence)
    except ValueError:
        try:
            from bioimageio.spec._internal.license_id import LicenseIdLiteral
        except ImportError:  # an internal module: a later spec may move it
            LicenseIdLiteral = None  # noqa: N806
        known = typing.get_args(LicenseIdLiteral) if LicenseIdLiteral else ()
        # SPDX ids match whatever the case: "mit" is MIT (its hint was "pnmstitch")
        by_case = {k.lower(): k for k in known}
        if str(licence).lower() in by_case:
            return bio.LicenseId(by_case[str(licence).lower()])
        lower = difflib.get_close_matches(str(licence).lower(), list(by_case), n=3, cutoff=0.5)
        close = [by_case[c] for c in lower]
        hint = (
            f" (closest: {', '.join(close)})" if close else " (e.g. CC-BY-4.0, MIT, BSD-3-Clause)"
        )
        raise PackageError(
            f"{licence!r} is not an SPDX licence id{hint}; see https://spdx.org/licenses/."
        ) from None


def _physical_axes(
    bundle: ModelBundle, pixel_size: tuple[float, ...] | None, unit: str | None
) -> tuple[str, list[float], str | None]:
    """Spatial axis names, the pixel size per axis and its SI unit (None when unknown)."""
    sd, given = bundle.spatial_dims, unit
    record = bundle.object_size or {}
    _check_recorded_size(record, pixel_size, unit, sd)
    if pixel_size is None and record.get("pixel_size") is not None:
        pixel_size = _recorded_pixel_size(record, sd)
    if unit is None:
        unit = record.get("unit")
    scales = [float(v) for v in (pixel_size or (1.0,) * sd)][-sd:]
    # A unit means nothing without a pixel size. Its spellings are the readers' ("microns"
    # and OME's Greek "μm" were dropped, the scale left without a unit; travel bash), and
    # lengths bioimage.io has no name for (inches) are given in µm.
    short = length_unit(unit) if unit and pixel_size is not None else None
    if short is not None and short not in UNITS:
        scales, short = [convert_length(v, short, "µm") for v in scales], "µm"
    if given and pixel_size is not None and short is None:  # (the model's own: dropped)
        raise PackageError(f"Unit {unit!r} is no length: give the pixel size in µm or nm.")
    return "zyx"[-sd:], scales, None if short is None else UNITS[short]


def _recorded_pixel_size(record: dict[str, Any], sd: int) -> tuple[float, ...]:
    """The pixel size a model's object-size record gives, one per spatial axis (it
    records one number for square pixels)."""
    ps = record["pixel_size"]
    return tuple(float(v) for v in (ps if isinstance(ps, (list, tuple)) else (ps,) * sd))


def _check_recorded_size(
    record: dict[str, Any], pixel_size: Any, unit: str | None, sd: int
) -> None:
    """Refuse a ``pixel_size`` other than the one the model's object size was measured
    at: the package's axes said 0.3 µm while its record (which napari-unetseg reads back)
    kept 0.5 µm (travel bash)."""
    if pixel_size is None or record.get("pixel_size") is None:
        return
    recorded = list(_recorded_pixel_size(record, sd))[-sd:]
    asked = [float(v) for v in pixel_size][-sd:]
    theirs = length_unit(record.get("unit"))
    if not same_size(asked, length_unit(unit) or theirs, recorded, theirs):
        said = " x ".join(f"{v:g}" for v in recorded) + f" {record.get('unit') or ''}".rstrip()
        raise PackageError(
            f"The model was trained at pixels of {said}, where its objects measure "
            f"{record.get('diameter', 0):.0f} px: leave pixel_size out (the package takes "
            "the model's), or train the model at the pixel size you give."
        )


def _recorded_with(
    ours: dict[str, Any], pixel_size: Any, unit: str | None, sd: int
) -> dict[str, Any]:
    """The model's record with the pixel size given for a model that recorded none (the
    axes said 0.3 µm, the record none, and napari-unetseg read none back): its spatial
    axes' sizes (a ZYX test image's three for a 2D model: review), in a length unit."""
    record, short = ours.get("object_size"), length_unit(unit)
    if pixel_size is None or short is None or not record or record.get("pixel_size"):
        return ours
    sizes = [float(v) for v in pixel_size][-sd:]
    size = sizes[0] if len(set(sizes)) == 1 else sizes
    return {**ours, "object_size": {**record, "pixel_size": size, "unit": short}}


def _write_files(
    d: Path, bundle: ModelBundle, raw: np.ndarray, description: str, onnx: bool, input_note: str
) -> None:
    """Test and sample tensors, cover, documentation, architecture and the weights
    (state dict, TorchScript, and ONNX with ``onnx``)."""
    from ..core.normalize import inverted

    shown = inverted(raw[0]) if bundle.invert else raw[0]  # as the package's first step
    norm = bundle.normalize(shown, channel_axis=0)[None].astype(np.float32)
    expected = _scores(bundle, norm)
    np.save(d / "test_input.npy", raw)
    np.save(d / "test_output.npy", expected)
    # Sample tensors (for viewers such as the bioimage.io website) are images.
    # channels first, not colour: tifffile would guess RGB for 3 channels (and warn)
    for name, tensor in (("sample_input.tif", raw[0]), ("sample_output.tif", expected[0])):
        tifffile.imwrite(d / name, tensor, photometric="minisblack")
    _cover(d / "cover.png", raw[0], expected[0])
    readme = _documentation(bundle, description, input_note)
    (d / "README.md").write_text(readme, encoding="utf-8")
    # The architecture: our U-Net's own source file, which imports only torch.
    (d / "unet.py").write_text(inspect.getsource(unet_module), encoding="utf-8")
    net = bundle.network.cpu().eval()
    torch.save({k: v.detach().clone() for k, v in net.state_dict().items()}, d / "weights.pt")
    with warnings.catch_warnings():
        # Tracer warnings about the size check; TorchScript is deprecated in favour of
        # torch.export, but it is what bioimage.io consumers run.
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(net, torch.from_numpy(norm), check_trace=False)
        torch.jit.save(traced, str(d / "weights_torchscript.pt"))
    if onnx:
        export_onnx(net, bundle.in_channels, bundle.spatial_dims, d / "weights.onnx")


def _channel_names(class_names: list[str]) -> list[str]:
    """Class names as distinct identifiers (bioimage.io's channel names): other
    characters become ``_``, a leading digit gets ``class_`` before it, and names that
    come out alike get ``_2``, ``_3``, ... ("a b" and "a-b" were both "a_b"; "1st
    nucleus" failed the export with pydantic's message)."""
    names: list[str] = []
    for i, c in enumerate(class_names):
        name = re.sub(r"\W+", "_", c).strip("_") or f"class{i}"
        name = name if name.isidentifier() else f"class_{name}"
        base, n = name, 1
        while name in names:
            n += 1
            name = f"{base}_{n}"
        names.append(name)
    return names


def _input_descr(bio: Any, bundle: ModelBundle, d: Path, axes: Any) -> Any:
    """The input tensor: batch, channels, sized spatial axes, percentile scaling."""
    spatial, scales, space_unit = axes
    div = bundle.divisor
    size = bio.ParameterizedSize(min=div, step=div)
    channels = [bio.Identifier(f"channel{i}") for i in range(bundle.in_channels)]
    norm = bundle.normalization
    scale_axes = [bio.AxisId(a) for a in spatial]
    if not norm["per_channel"]:
        scale_axes.append(bio.AxisId("channel"))
    return bio.InputTensorDescr(
        id=bio.TensorId("input"),
        description="raw image",
        axes=[
            bio.BatchAxis(),
            bio.ChannelAxis(channel_names=channels),
            *(
                bio.SpaceInputAxis(id=bio.AxisId(a), size=size, scale=s, unit=space_unit)
                for a, s in zip(spatial, scales, strict=True)
            ),
        ],
        test_tensor=bio.FileDescr(source=d / "test_input.npy"),
        sample_tensor=bio.FileDescr(source=d / "sample_input.tif"),
        data=bio.IntervalOrRatioDataDescr(type="float32"),
        preprocessing=_preprocessing(bio, bundle, scale_axes),
    )


def _preprocessing(bio: Any, bundle: ModelBundle, scale_axes: list[Any]) -> list[Any]:
    """The model's normalization as bioimage.io preprocessing: percentiles as
    ``scale_range``; none (values as they are) as no step at all.

    A model trained with dark and bright swapped (``invert``) normalizes the negated
    image: its low / high percentiles are the image's 100 - high / 100 - low ones, so
    ``scale_range`` at those, then ``scale_linear`` to 1 - x, give the same values
    (bioimageio.core takes a ``scale_range``'s percentiles of the input as given, not
    after a ``scale_linear`` by -1 before it: 93 % of a test output disagreed).
    """
    norm = bundle.normalization
    if bundle.invert and norm["mode"] == "none":  # integers are swapped from their top
        raise PackageError(
            f"Model {bundle.name!r} swaps dark and bright without normalizing its input, "
            "which a package's preprocessing cannot write for every data type."
        )
    if norm["mode"] == "none":
        return []
    fixed = intensity_range_of(norm)
    if fixed is not None and bundle.invert:  # (no training makes it: refused there)
        raise PackageError(
            f"Model {bundle.name!r} swaps dark and bright within a fixed intensity range, "
            "which a package's preprocessing does not write."
        )
    if fixed is not None:  # a fixed range (a CT window): scale_linear, then clip to 0-1
        gain, offset = norm["ops"][0]["gain"], norm["ops"][0]["offset"]
        return [
            bio.ScaleLinearDescr(kwargs=bio.ScaleLinearKwargs(gain=gain, offset=offset)),
            bio.ClipDescr(kwargs=bio.ClipKwargs(min=0.0, max=1.0)),
        ]
    if norm["mode"] != "percentile":
        raise PackageError(
            f"Model {bundle.name!r} normalizes its input with {norm['mode']!r}, which the "
            "export does not write: only percentile scaling or none."
        )
    low, high = float(norm["low"]), float(norm["high"])
    if bundle.invert:  # (rounded: 100 - 99.8 was 0.20000000000000284; travel bash)
        low, high = round(100.0 - high, 9), round(100.0 - low, 9)
    kwargs = bio.ScaleRangeKwargs(
        axes=scale_axes, min_percentile=low, max_percentile=high, eps=1e-6
    )
    steps: list[Any] = [bio.ScaleRangeDescr(kwargs=kwargs)]
    if bundle.invert:
        steps.append(bio.ScaleLinearDescr(kwargs=bio.ScaleLinearKwargs(gain=-1.0, offset=1.0)))
    low_clip, high_clip = PERCENTILE_CLIP  # the bound on hot pixels that predict applies
    steps.append(bio.ClipDescr(kwargs=bio.ClipKwargs(min=low_clip, max=high_clip)))
    return steps


def _output_descr(bio: Any, bundle: ModelBundle, d: Path, axes: Any) -> Any:
    """The output tensor: per-class probabilities (softmax) or a sigmoid foreground."""
    spatial, scales, space_unit = axes
    n = bundle.n_classes
    post = (
        bio.SigmoidDescr()
        if n == 1
        else bio.SoftmaxDescr(kwargs=bio.SoftmaxKwargs(axis=bio.AxisId("channel")))
    )
    names = [bio.Identifier(name) for name in _channel_names(bundle.class_names[-n:])]
    same_as_input = {
        a: bio.SizeReference(tensor_id=bio.TensorId("input"), axis_id=bio.AxisId(a))
        for a in spatial
    }
    return bio.OutputTensorDescr(
        id=bio.TensorId("scores"),
        description="per-class probabilities" if n > 1 else "foreground probability",
        axes=[
            bio.BatchAxis(),
            bio.ChannelAxis(channel_names=names),
            *(
                bio.SpaceOutputAxis(
                    id=bio.AxisId(a), size=same_as_input[a], scale=s, unit=space_unit
                )
                for a, s in zip(spatial, scales, strict=True)
            ),
        ],
        test_tensor=bio.FileDescr(source=d / "test_output.npy"),
        sample_tensor=bio.FileDescr(source=d / "sample_output.tif"),
        data=bio.IntervalOrRatioDataDescr(type="float32", range=(0.0, 1.0)),
        postprocessing=[post],
    )


def _weights_descr(bio: Any, bundle: ModelBundle, d: Path) -> Any:
    """State dict with our U-Net's source as the architecture, TorchScript, and ONNX
    where :func:`_write_files` wrote it."""
    torch_version = bio.Version(torch.__version__.split("+")[0])
    onnx = d / "weights.onnx"
    other = {}  # (not given at all when absent: "onnx: null" in the package otherwise)
    if onnx.exists():
        other["onnx"] = bio.OnnxWeightsDescr(
            source=onnx, opset_version=OPSET, parent="pytorch_state_dict"
        )
    return bio.WeightsDescr(
        **other,
        pytorch_state_dict=bio.PytorchStateDictWeightsDescr(
            source=d / "weights.pt",
            architecture=bio.ArchitectureFromFileDescr(
                source=d / "unet.py", callable=bio.Identifier("UNet"), kwargs=dict(bundle.config)
            ),
            pytorch_version=torch_version,
        ),
        torchscript=bio.TorchscriptWeightsDescr(
            source=d / "weights_torchscript.pt",
            pytorch_version=torch_version,
            parent="pytorch_state_dict",
        ),
    )


def _history_attached(ours: dict[str, Any], d: Path) -> list[str]:
    """The training history moved out of the config into an attached JSON file (the
    shipped models' rdf.yaml held 9,300 lines of loss curves and data shapes, for readers
    of it to scroll past; bioimage.io bash); the config names the file. Returns the
    attachments' names."""
    import json

    history = ours.pop("history", None)
    if not history:
        return []
    (d / HISTORY_FILE).write_text(json.dumps(history, indent=1), encoding="utf-8")
    ours["history_file"] = HISTORY_FILE
    return [HISTORY_FILE]


def _check_export(output: str | os.PathLike, overwrite: bool, onnx: bool | None) -> bool:
    """Refusals before any work (one sentence each); whether to write ONNX weights."""
    out = Path(output)
    if out.suffix.lower() != ".zip":
        raise PackageError(f"{os.fspath(output)!r} must end in .zip (a bioimage.io package).")
    check_name_length(out)
    if out.exists() and not overwrite:
        raise FileExistsError(
            f"{os.fspath(output)!r} exists; choose another name, or replace it "
            "(--overwrite, overwrite=True)."
        )
    require_spec()
    if onnx is None:
        return exporter_installed()
    if onnx and not exporter_installed():
        raise PackageError(
            "ONNX weights need onnx and onnxscript: pip install 'napari-unetseg[bioimageio]'."
        )
    return bool(onnx)


#: Who made the shipped models, and under which licence (the project's: pyproject.toml).
SHIPPED_ORIGIN = {"authors": ["napari-unetseg developers"], "license": "BSD-3-Clause"}
#: How the shipped models' history begins its "purpose" (scripts/train_default_models.py).
SHIPPED_PURPOSE = "shipped default model"


def _origin(bundle: ModelBundle) -> tuple[dict[str, Any], str]:
    """The authors, licence and description a package of ``bundle`` takes by default:
    those of the package it was loaded or fine-tuned from (a fine-tuning of a colleague's
    MIT package became "napari-unetseg user", CC-BY-4.0; travel bash), or the shipped
    models' (exported as a user's, CC-BY-4.0, against the project's BSD-3-Clause),
    known by their history wherever the file lies (by path, a model moved to another
    machine lost it; review); and, for a fine-tuning, what it was fine-tuned from, in
    words ("" otherwise)."""
    history, derived, named = bundle.history or {}, False, bundle.name
    while isinstance(history, dict) and history:
        if history.get("package"):
            found = history["package"]
            return dict(found), _whose(found, derived)
        if str(history.get("purpose") or "").startswith(SHIPPED_PURPOSE):
            return dict(SHIPPED_ORIGIN), f"napari-unetseg's {named}" if derived else ""
        named = Path(str(history.get("started_from") or "a model")).stem
        history, derived = history.get("previous"), True
    return {}, ""


def _description(bundle: ModelBundle, package: dict[str, Any], derived: str) -> str:
    """The package's own description (re-exported as it is), else a sentence of ours
    naming what the model was fine-tuned from."""
    if not derived and package.get("description"):
        return str(package["description"])
    return (
        f"{bundle.spatial_dims}D U-Net for semantic segmentation "
        f"({', '.join(bundle.class_names)}), trained with napari-unetseg"
        + (f", fine-tuned from {derived}." if derived else ".")
    )


def _whose(package: dict[str, Any], derived: bool) -> str:
    """ "a model by A, B (MIT)" for a fine-tuning of ``package``, "" for the package."""
    if not derived:
        return ""
    authors = ", ".join(package.get("authors") or []) or "unnamed authors"
    licence = f" ({package['license']})" if package.get("license") else ""
    return f"a model by {authors}{licence}"


def _undated(package: Path) -> Path:
    """The package with every entry dated 1980-01-01, as bioimageio.spec dates all but
    rdf.yaml: the same model exported twice gives the same bytes (a checksum then says
    "same model"; rdf.yaml's time made two exports differ; reproducibility bash)."""
    import shutil
    import zipfile

    dated = package.with_name(package.name + ".dated")
    os.replace(package, dated)
    with zipfile.ZipFile(dated) as src, zipfile.ZipFile(package, "w") as out:
        for info in src.infolist():  # entry by entry: large weights are never held whole
            info.date_time = (1980, 1, 1, 0, 0, 0)
            with src.open(info) as r, out.open(info, "w") as w:  # (its size: zip64 if needed)
                shutil.copyfileobj(r, w, 1 << 20)
    os.remove(dated)
    return package


def export_bioimageio(
    bundle: ModelBundle,
    output: str | os.PathLike,
    *,
    test_image: Any = None,
    channel_axis: int | None = None,
    pixel_size: tuple[float, ...] | None = None,
    unit: str | None = None,
    authors: list[str] | None = None,
    license: str | None = None,
    description: str | None = None,
    training_data: str | None = None,
    overwrite: bool = False,
    onnx: bool | None = None,
) -> Path:
    """Write ``bundle`` as a bioimage.io model package (a ``.zip``, spec 0.5).

    Parameters
    ----------
    bundle : ModelBundle
        A napari-unetseg U-Net (imported predict-only models cannot be re-exported).
    output : path
        The ``.zip`` to write (atomically: an existing file is replaced only on success).
    test_image : array-like, optional
        An image for the test tensors (its first plane/volume, cropped to at most 256 px
        in 2D / 64 px in 3D); default: synthetic nuclei.
    pixel_size, unit : optional
        Physical pixel size per spatial axis and its unit (default: the model's record).
    authors, license, description, training_data : optional
        Metadata; ``training_data`` is one sentence describing it (default: from the
        model's history). Authors and licence default to those of the package the model
        was loaded or fine-tuned from (a re-export kept none of them: MIT became
        CC-BY-4.0), or of the shipped model it came from ("napari-unetseg developers",
        BSD-3-Clause), else "napari-unetseg user" and CC-BY-4.0; the description to the
        package's own, else a sentence of ours naming what it was fine-tuned from.
    overwrite : bool
        Replace an existing file (refused otherwise: the package replaced whatever file
        was named, a data zip or a trained ``.pt``).
    onnx : bool, optional
        ONNX weights too, for consumers without PyTorch (a few seconds more). Default:
        when torch's exporter can run (onnx and onnxscript, which the ``bioimageio``
        extra installs); True without it is a PackageError.

    Returns
    -------
    Path
        The written package.

    Raises
    ------
    PackageError
        The model cannot be exported, or bioimageio.spec rejects the description.
    """
    onnx = _check_export(output, overwrite, onnx)
    from bioimageio.spec import save_bioimageio_package
    from bioimageio.spec.dataset.v0_3 import DatasetDescr
    from bioimageio.spec.model import v0_5 as bio

    if not bundle.trainable:
        raise PackageError(
            f"Model {bundle.name!r} was imported for prediction only; export the package "
            "it came from instead."
        )
    package, derived = _origin(bundle)
    licence = _licence_id(bio, license or package.get("license") or "CC-BY-4.0")
    sd, name = bundle.spatial_dims, _model_name(bundle)
    axes = _physical_axes(bundle, pixel_size, unit)
    authors = authors or package.get("authors")
    description = description or _description(bundle, package, derived)
    training_data = training_data or f"Training data: {_training_data(bundle.history or {})}"
    raw, input_note = _test_image(bundle, test_image, channel_axis)  # (C, *spatial)
    people = [bio.Author(name=a) for a in (authors or ["napari-unetseg user"])]
    cite = [bio.CiteEntry(text=U_NET_CITATION, doi=bio.Doi(U_NET_DOI))]

    with (
        warnings.catch_warnings(),
        tempfile.TemporaryDirectory(prefix="unetseg-bioimageio-") as tmp,
    ):
        # bioimageio.spec leaves the files it hashes to the garbage collector: its
        # ResourceWarnings are not the user's concern (collected below, inside this block).
        warnings.simplefilter("ignore", ResourceWarning)
        d = Path(tmp)
        _write_files(d, bundle, raw[None], description, onnx, input_note)
        ours = {k: v for k, v in bundle.to_dict().items() if k != "state_dict"}
        ours = _recorded_with(ours, pixel_size, unit, bundle.spatial_dims)
        attachments = _history_attached(ours, d)
        model = bio.ModelDescr(
            name=name,
            description=description,
            authors=people,
            cite=cite,
            license=licence,
            documentation=bio.FileDescr(source=d / "README.md"),
            covers=[bio.FileDescr(source=d / "cover.png")],
            tags=["napari-unetseg", "unet", "semantic-segmentation", f"{sd}d", "pytorch"],
            inputs=[_input_descr(bio, bundle, d, axes)],
            outputs=[_output_descr(bio, bundle, d, axes)],
            training_data=DatasetDescr(
                name=f"{name} training data",
                description=training_data,
                authors=people,
                cite=cite,
                license=licence,
                # the model card's "Training" section describes the data (FAIR hints
                # asked for both); no source: the images are not in the package
                documentation=bio.FileDescr(source=d / "README.md"),
                tags=_data_tags(bundle.history or {}, sd),
            ),
            weights=_weights_descr(bio, bundle, d),
            attachments=[bio.FileDescr(source=d / name) for name in attachments],
            config=bio.Config(**{CONFIG_KEY: ours}),
        )
        written = atomic_write(
            output,
            lambda tmp: _undated(save_bioimageio_package(model, output_path=Path(tmp))),
        )
        model = None  # the description holds bioimageio.spec's open files: collect them here
        gc.collect()
    return written
