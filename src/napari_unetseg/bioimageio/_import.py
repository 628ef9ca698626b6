"""Read a bioimage.io model package into a :class:`ModelBundle`.

- **Our own exports** (their ``config`` carries our model record and they have
  ``pytorch_state_dict`` weights) become a full, fine-tunable model: the network is our
  own :class:`~napari_unetseg.core.unet.UNet` built from the record, its weights read
  with ``torch.load(weights_only=True)``.
- **Third-party 2D/3D semantic-segmentation models** with ``torchscript`` weights
  become a predict-only model (:class:`~napari_unetseg.core.foreign.ForeignNetwork`),
  with the package's preprocessing as our normalization and its shape constraints
  (minimum size, step, halo) passed to the tiler.
- **Refused:** a third-party ``pytorch_state_dict`` alone, because building its
  network means importing the Python file shipped in the package, i.e. running the
  package's code, which a model file must never be able to do; other weight formats
  (ONNX, TensorFlow, Keras); outputs that are not per-class scores on the input's grid
  (labels, instances, flows, ...); packages whose test input does not reproduce their
  test output here.

No pickled code runs: state dicts load with ``weights_only=True`` and TorchScript is a
serialized graph, not Python.
"""

from __future__ import annotations

import io
import os
import re
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.bundle import ModelBundle, ModelFileError
from ..core.foreign import ForeignNetwork
from ..core.normalize import inverted
from ._common import CONFIG_KEY, PackageError, reproduces, require_spec

#: What the weight-format errors say napari-unetseg can run.
CAN_RUN = (
    "napari-unetseg runs torchscript weights, and pytorch_state_dict weights of its own U-Net"
)


@dataclass
class _Geometry:
    """What the test check needs to know about a package's tensors."""

    input_axes: str
    output_axes: str
    activation: str  # 'softmax', 'sigmoid', 'probabilities' or 'none'


#: File names of a package's description (bioimage.io spec; also ``*.bioimageio.yaml``).
_RDF_NAMES = ("rdf.yaml", "bioimageio.yaml", "model.yaml")


def _shortened(text: str, limit: int = 160) -> str:
    """``text`` cut at the last word boundary before ``limit`` characters, with an ellipsis."""
    text = text.rstrip(".")
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:(") + " ..."


def _axis_letter(axis: Any, spatial: list[str], space_ids: list[str]) -> str:
    kind = axis.type
    if kind == "batch":
        return "b"
    if kind == "channel":
        return "c"
    return spatial[space_ids.index(str(axis.id))]


def _sizes(axes: list[Any]) -> tuple[list[int], list[int]]:
    """Minimum size and step of each space axis of an input tensor."""
    from bioimageio.spec.model.v0_5 import ParameterizedSize

    mins, steps = [], []
    for a in axes:
        if isinstance(a.size, int):
            mins.append(a.size)
            steps.append(0)
        elif isinstance(a.size, ParameterizedSize):
            mins.append(a.size.min)
            steps.append(a.size.step)
        else:
            raise PackageError(
                "its input size depends on another tensor, which napari-unetseg does not support."
            )
    return mins, steps


#: Keys of a model description whose values name files of the package.
_FILE_KEYS = frozenset(
    "source documentation covers test_inputs test_outputs sample_inputs sample_outputs "
    "architecture".split()
)


def _raw_description(path: Path) -> tuple[Any, Any] | None:
    """A package's description as its YAML reads (before the spec converts it), and a
    test of whether a relative file name is in the package; None when it cannot be read."""
    import posixpath

    import yaml

    try:
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as z:
                held = set(z.namelist())
                rdf = next(
                    n for n in sorted(held, key=len)
                    if n.rsplit("/", 1)[-1] in _RDF_NAMES or n.endswith(".bioimageio.yaml")
                )  # fmt: skip
                text = z.read(rdf).decode("utf-8")
            base = posixpath.dirname(rdf)

            def there(rel: str) -> bool:
                return posixpath.normpath(posixpath.join(base, rel)) in held
        else:
            text = path.read_text(encoding="utf-8")

            def there(rel: str) -> bool:
                return (path.parent / rel).is_file()

        return yaml.safe_load(text), there
    except Exception:  # noqa: BLE001 - then the spec's own message is said
        return None


def _missing_file(raw: tuple[Any, Any] | None) -> str | None:
    """The first file a package's description (:func:`_raw_description`) names that the
    package does not hold (a relative path, not a URL), or None (also when the
    description cannot be read)."""
    if raw is None:
        return None
    description, there = raw
    for name in _named_files(description):
        if not there(name):
            return name
    return None


def _say_newer_format(raw: tuple[Any, Any] | None, source: str) -> None:
    """Warn where a package's ``format_version`` is newer than the installed
    bioimageio.spec knows: the spec reads it as its own latest without a word to the
    user (a 0.9.0 package ran as 0.5.12; bioimage.io bash)."""
    from bioimageio.spec.model import v0_5
    from packaging.version import InvalidVersion, Version

    given = raw[0].get("format_version") if raw and isinstance(raw[0], dict) else None
    known = v0_5.ModelDescr.implemented_format_version
    try:
        newer = given is not None and Version(str(given)) > Version(known)
    except InvalidVersion:
        return  # the spec's validation says so
    if newer:
        warnings.warn(
            f"{source!r} is described in bioimage.io format {given}, newer than the "
            f"installed bioimageio.spec knows ({known}): it was read as {known}; if "
            "anything is missing, update bioimageio.spec.",
            UserWarning,
            stacklevel=3,
        )


def _named_files(node: Any, key: str = "") -> list[str]:
    """The relative file names under :data:`_FILE_KEYS` anywhere in a description (an
    architecture's ``file.py:Class`` gives its file)."""
    if isinstance(node, dict):
        return [f for k, v in node.items() for f in _named_files(v, str(k))]
    if isinstance(node, list):
        return [f for v in node for f in _named_files(v, key)]
    if key not in _FILE_KEYS or not isinstance(node, str) or "://" in node or " " in node:
        return []
    name = node.split(":", 1)[0] if key == "architecture" else node
    return [name] if "." in name and not name.startswith("/") else []


def _preprocessing(steps: list[Any]) -> list[dict[str, Any]]:
    """The package's preprocessing as our ``"ops"`` normalization (see ``normalize.py``)."""
    ops = []
    for p in steps:
        kind, kw = p.id, getattr(p, "kwargs", None)
        if kind == "ensure_dtype":
            continue
        if kind == "scale_range":
            if kw.reference_tensor is not None and str(kw.reference_tensor) != "input":
                raise PackageError("its preprocessing uses another tensor's statistics.")
            ops.append(
                {
                    "op": kind,
                    "low": kw.min_percentile,
                    "high": kw.max_percentile,
                    "eps": kw.eps,
                    "per_channel": _per_channel(kw.axes),
                }
            )
        elif kind == "zero_mean_unit_variance":
            ops.append({"op": kind, "eps": kw.eps, "per_channel": _per_channel(kw.axes)})
        elif kind == "fixed_zero_mean_unit_variance":
            ops.append({"op": kind, "mean": kw.mean, "std": kw.std, "eps": 1e-6})
        elif kind == "scale_linear":
            ops.append({"op": kind, "gain": kw.gain, "offset": kw.offset})
        elif kind == "clip" and kw.min_percentile is None and kw.max_percentile is None:
            ops.append({"op": kind, "min": kw.min, "max": kw.max})
        else:
            raise PackageError(
                f"its preprocessing step {kind!r} is not supported by napari-unetseg."
            )
        if len(ops) > 1 and ops[-2]["op"] == "clip":  # normalize.py's chain ends at a clip
            raise PackageError(
                f"its preprocessing step {kind!r} comes after 'clip', which napari-unetseg "
                "runs only as the last step."
            )
    return ops


def _per_channel(axes: Any) -> bool:
    """bioimage.io reduces over ``axes`` (all when None): per channel unless 'channel' is one."""
    return axes is not None and "channel" not in [str(a) for a in axes]


def _activation(output: Any) -> str:
    """How the output becomes scores, or PackageError when it is not per-class scores."""
    from bioimageio.spec.model.v0_5 import NominalOrOrdinalDataDescr

    data = output.data if not isinstance(output.data, (list, tuple)) else output.data[0]
    if isinstance(data, NominalOrOrdinalDataDescr) or "int" in str(data.type):
        raise PackageError(
            f"its output {str(output.id)!r} holds labels ({data.type}), not per-class scores."
        )
    kinds = [p.id for p in output.postprocessing if p.id != "ensure_dtype"]
    if kinds in (["softmax"], ["sigmoid"]):
        return kinds[0]
    if kinds:
        raise PackageError(
            f"its output {str(output.id)!r} is post-processed ({', '.join(kinds)}) into something "
            "other than per-class scores."
        )
    lo, hi = getattr(data, "range", (None, None))
    return "probabilities" if lo is not None and hi is not None and lo >= 0 and hi <= 1 else "none"


def _says_background(name: str) -> bool:
    words = name.lower().replace("_", " ").replace("-", " ").split()
    return "background" in words or words == ["bg"]


def _background_first(names: list[str], activation: str, what: str) -> tuple[int, ...] | None:
    """The output channels in our order where the package names its background channel
    elsewhere than first (its labels swapped background and objects); PackageError for
    several channels that each pass their own sigmoid (foreground and boundary maps:
    their softmax made the foreground background)."""
    if len(names) < 2:
        return None
    if activation == "sigmoid":
        raise PackageError(
            f"{what} has {len(names)} channels ({', '.join(names)}) that each pass their own "
            "sigmoid: maps of their own, not classes of one pixel; napari-unetseg reads one "
            "sigmoid map or classes that share a softmax."
        )
    said = [i for i, name in enumerate(names) if _says_background(name)]
    if not said or said[0] == 0:
        return None
    k = said[0]
    return (k, *[i for i in range(len(names)) if i != k])


def _read(descr_file: Any) -> bytes:
    return descr_file.get_reader().read()


def _test_arrays(model: Any) -> tuple[np.ndarray, np.ndarray]:
    from bioimageio.spec.utils import load_array

    return load_array(model.inputs[0].test_tensor), load_array(model.outputs[0].test_tensor)


def _canonical(arr: np.ndarray, axes: str, spatial_dims: int) -> np.ndarray:
    """(B, C, *spatial) from a tensor in ``axes`` order (absent b/c become size 1)."""
    canonical = "bc" + "zyx"[-spatial_dims:]
    for letter in "bc":
        if letter not in axes:
            arr, axes = arr[None], letter + axes
    return np.transpose(arr, [axes.index(a) for a in canonical])


def _with_history(model: Any, record: dict[str, Any], source: str) -> dict[str, Any]:
    """The config's record with the training history its ``history_file`` attachment
    holds (:data:`HISTORY_FILE`; older packages hold it in the record itself)."""
    import json

    name = record.get("history_file")
    if name is None:
        return record
    record = {k: v for k, v in record.items() if k != "history_file"}
    attached = [a for a in model.attachments if str(a.source).rsplit("/", 1)[-1] == name]
    try:
        record["history"] = json.loads(_read(attached[0]).decode("utf-8"))
    except (IndexError, ValueError, OSError) as exc:
        raise PackageError(
            f"{source!r} names its training history {name!r}, which it does not hold readably."
        ) from exc
    return record


def _ours(model: Any, record: dict[str, Any], source: str) -> tuple[ModelBundle, _Geometry]:
    weights = model.weights.pytorch_state_dict
    try:
        state = torch.load(io.BytesIO(_read(weights)), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unreadable or code-carrying weights
        raise PackageError(
            f"{source!r} has unreadable pytorch_state_dict weights ({type(exc).__name__})."
        ) from exc
    record = _with_history(model, record, source)
    try:
        bundle = ModelBundle.from_dict({**record, "state_dict": state}, source=source)
    except ModelFileError as exc:
        raise PackageError(str(exc)) from exc
    # who made the package and under which licence: an export of it keeps them
    bundle.history = dict(bundle.history or {})
    bundle.history["package"] = {
        "authors": [str(a.name) for a in model.authors] or None,
        "license": str(model.license) if model.license else None,
        "description": str(model.description) or None,
    }
    spatial = "zyx"[-bundle.spatial_dims :]
    act = "sigmoid" if bundle.n_classes == 1 else "softmax"
    return bundle, _Geometry("bc" + spatial, "bc" + spatial, act)


def _foreign(model: Any, source: str) -> tuple[ModelBundle, _Geometry]:
    if len(model.inputs) != 1:
        raise PackageError(
            f"{source!r} has {len(model.inputs)} inputs; napari-unetseg runs models with one input image."
        )
    inp, out = model.inputs[0], model.outputs[0]
    space = [a for a in inp.axes if a.type == "space"]
    others = [a.type for a in inp.axes if a.type not in ("batch", "channel", "space")]
    if others or len(space) not in (2, 3):
        raise PackageError(
            f"{source!r} takes a {len(space)}D input with {', '.join(others) or 'no other'} axes; "
            "napari-unetseg runs 2D and 3D image models."
        )
    sd = len(space)
    spatial, space_ids = list("zyx"[-sd:]), [str(a.id) for a in space]
    input_axes = "".join(_axis_letter(a, spatial, space_ids) for a in inp.axes)
    channel = [a for a in inp.axes if a.type == "channel"]
    in_channels = len(channel[0].channel_names) if channel else 1
    batch = [a for a in inp.axes if a.type == "batch"]
    mins, steps = _sizes(space)
    where = f"{source!r}: "
    try:
        activation = _activation(out)
        out_space = [a for a in out.axes if a.type == "space"]
        bad = [a.type for a in out.axes if a.type not in ("batch", "channel", "space")]
        if bad or [str(a.id) for a in out_space] != space_ids:
            raise PackageError(
                f"its output axes ({', '.join(str(a.id) for a in out.axes)}) are not per-class scores on the input's axes."
            )
        halo = []
        for a, i in zip(out_space, space):
            ref = a.size
            same_grid = (
                getattr(ref, "axis_id", None) is not None
                and str(ref.axis_id) == str(i.id)
                and not getattr(ref, "offset", 0)
            )
            same_grid = same_grid or (
                isinstance(ref, int) and steps[space.index(i)] == 0 and ref == mins[space.index(i)]
            )
            if not same_grid or abs(a.scale - i.scale) > 1e-6 * i.scale:
                raise PackageError(f"its output axis {str(a.id)!r} is not on the input's grid.")
            halo.append(int(getattr(a, "halo", 0) or 0))
        out_channel = [a for a in out.axes if a.type == "channel"]
        n_classes = len(out_channel[0].channel_names) if out_channel else 1
        ops = _preprocessing(list(inp.preprocessing))
    except PackageError as exc:
        raise PackageError(where + str(exc)) from exc
    output_axes = "".join(_axis_letter(a, spatial, space_ids) for a in out.axes)
    names = [str(c) for c in out_channel[0].channel_names] if out_channel else [str(out.id)]
    order = _background_first(names, activation, f"{where}its output {str(out.id)!r}")
    if order is not None:
        names = [names[c] for c in order]

    try:
        with warnings.catch_warnings():
            # TorchScript is deprecated in favour of torch.export, but it is what
            # bioimage.io packages hold: not a warning for the user who opens one.
            warnings.filterwarnings("ignore", "`torch.jit", DeprecationWarning)
            data = io.BytesIO(_read(model.weights.torchscript))
            module = torch.jit.load(data, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any unreadable TorchScript
        raise PackageError(
            f"{where}its torchscript weights cannot be read ({type(exc).__name__})."
        ) from exc
    module.eval()
    network = ForeignNetwork(
        module,
        spatial_dims=sd,
        in_channels=in_channels,
        n_classes=n_classes,
        input_axes=input_axes,
        output_axes=output_axes,
        min_size=tuple(mins),
        step=tuple(steps),
        halo=tuple(halo),
        outputs="probabilities" if activation == "probabilities" else "logits",
        batch=bool(batch) and batch[0].size is None,
        channel_order=order,
    )
    class_names = ["background", *names] if n_classes == 1 else names
    bundle = ModelBundle(
        network=network,
        normalization={"mode": "ops", "ops": ops},
        class_names=class_names,
        name=str(model.name),
        source=source,
    )
    bundle.history = {
        "imported_from": source,
        "bioimageio_name": str(model.name),
        "description": str(model.description),
    }
    return bundle, _Geometry(input_axes, output_axes, activation)


def _check_reproduces(bundle: ModelBundle, model: Any, geo: _Geometry, source: str) -> float:
    """Run the package's test input through our pipeline and compare with its test output."""
    try:
        raw, expected = _test_arrays(model)
    except Exception as exc:  # noqa: BLE001 - a missing or unreadable test tensor
        raise PackageError(
            f"{source!r} has unreadable test tensors ({type(exc).__name__})."
        ) from exc
    sd = bundle.spatial_dims
    x = _canonical(np.asarray(raw), geo.input_axes, sd).astype(np.float32)
    want = _canonical(np.asarray(expected), geo.output_axes, sd)
    order = getattr(bundle.network, "config", {}).get("channel_order")
    if order:  # the package's channels in our order (the background first)
        want = want[:, order]
    if bundle.invert:  # our own export of a model trained with dark and bright swapped
        x = inverted(x)
    norm = np.stack([bundle.normalize(sample, channel_axis=0) for sample in x])
    net = bundle.network.eval()
    # A foreign module runs on the test input as the package's authors ran it (no halo padding).
    run = net.module_scores if isinstance(net, ForeignNetwork) else net
    with torch.inference_mode():
        y = run(torch.from_numpy(norm)).float()
    if geo.activation == "softmax":
        y = torch.softmax(y, 1)
    elif geo.activation == "sigmoid" or (
        geo.activation == "probabilities" and bundle.n_classes == 1
    ):
        y = torch.sigmoid(y)
    elif geo.activation == "probabilities":
        y = torch.exp(y)
    ok, diff = reproduces(y.numpy(), want)
    if not ok:
        raise PackageError(
            f"{source!r}: its test input does not reproduce its test output here (largest "
            f"difference {diff:.3g}), so its predictions could not be trusted."
        )
    return diff


def load_package(path: str | os.PathLike, *, check: bool = True) -> ModelBundle:
    """Load a bioimage.io model package (``.zip``, or an unpacked ``rdf.yaml``).

    Parameters
    ----------
    path : path
        The package.
    check : bool
        Run the package's test input and compare with its test output (the default; a
        package that does not reproduce is refused).

    Returns
    -------
    ModelBundle
        Fine-tunable for our own exports, predict-only (``bundle.trainable`` is False)
        for third-party models.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    PackageError
        With one sentence: a damaged zip, an invalid description, weights we cannot
        run (the message names those we can), an output that is not per-class scores,
        test tensors that do not reproduce.
    """
    path = Path(path).expanduser()
    source = str(path)
    if not path.exists():
        raise FileNotFoundError(f"Model package {source!r} does not exist.")
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as z:
                broken = z.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error):  # (zlib: a bad member)
            broken = "?"
        if broken is not None:
            raise PackageError(
                f"{source!r} is not a bioimage.io model package: the zip file is damaged or truncated."
            )
        with zipfile.ZipFile(path) as z:
            names = [n.rsplit("/", 1)[-1] for n in z.namelist()]
        if not any(n in _RDF_NAMES or n.endswith(".bioimageio.yaml") for n in names):
            raise PackageError(
                f"{source!r} is not a bioimage.io model package: it holds no rdf.yaml "
                "(or bioimageio.yaml) describing a model."
            )
    require_spec()
    from bioimageio.spec import load_model_description

    raw = _raw_description(path)  # as its YAML reads, once
    _say_newer_format(raw, source)
    kind = raw[0].get("type") if raw and isinstance(raw[0], dict) else None
    if kind not in (None, "model"):  # (a dataset without its README: "names README.md")
        raise PackageError(
            f"{source!r} describes a bioimage.io {kind}, not a model: give a model package."
        )
    try:
        model = load_model_description(path, format_version="latest", perform_io_checks=True)
    except Exception as exc:  # noqa: BLE001 - validation errors are many kinds
        missing = _missing_file(raw)
        if missing is not None:  # the spec's message names a URL rule or a NoneType
            raise PackageError(
                f"{source!r} is not a valid bioimage.io model package: it names {missing!r}, "
                "which is not in it."
            ) from exc
        altered = re.search(r"SHA256 mismatch for (\S+?)\.? Expected", str(exc))
        if altered:  # the spec's words carried pydantic's "Value error," and ":zipfile:/"
            name = altered.group(1).rsplit("/", 1)[-1]
            raise PackageError(
                f"{source!r} is not a valid bioimage.io model package: its file {name!r} does "
                "not match the sha256 its rdf.yaml gives (damaged, or changed after packaging)."
            ) from exc
        reason = str(exc).strip().splitlines()
        short = next(
            (line.strip() for line in reason[1:] if line.strip()), reason[0] if reason else ""
        )
        raise PackageError(
            f"{source!r} is not a valid bioimage.io model package ({_shortened(short)})."
        ) from exc
    present = [
        f
        for f in (
            "pytorch_state_dict",
            "torchscript",
            "onnx",
            "keras_hdf5",
            "keras_v3",
            "tensorflow_saved_model_bundle",
            "tensorflow_js",
        )
        if getattr(model.weights, f, None) is not None
    ]
    record = (model.config.model_extra or {}).get(CONFIG_KEY)
    if isinstance(record, dict) and model.weights.pytorch_state_dict is not None:
        bundle, geo = _ours(model, record, source)
    elif model.weights.torchscript is not None:
        bundle, geo = _foreign(model, source)
    elif model.weights.pytorch_state_dict is not None:
        raise PackageError(
            f"{source!r} has pytorch_state_dict weights of a third-party architecture, whose Python "
            f"source napari-unetseg does not run (a model file must not run code); {CAN_RUN}."
        )
    else:
        raise PackageError(f"{source!r} has {', '.join(present) or 'no'} weights only; {CAN_RUN}.")
    if check:
        _check_reproduces(bundle, model, geo, source)
    return bundle
