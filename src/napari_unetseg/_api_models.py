"""Models for the public API (:mod:`napari_unetseg.api`): load, list, save, choose.

With two helpers that the API's modules share: :func:`dtype_of` and :func:`arguments_of`.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .core.bundle import ModelBundle
from .core.guards import dtype_of as dtype_of  # re-exported: the API's modules share it
from .core.normalize import rgb_axis
from .core.registry import REGISTRY

ModelLike = ModelBundle | str | os.PathLike
F = TypeVar("F", bound=Callable[..., Any])


def no_paths(function: str, hint: str, *given: Any) -> None:
    """Refuse a file path where ``function`` takes arrays, in one sentence with ``hint``
    (evaluate("a.tif", ...) said "Label arrays need at least one axis; got a single
    value", train("img.tif", ...) "data of type <U8"; paths bug bash)."""
    for value in given:
        for item in value if isinstance(value, list | tuple) else [value]:
            if isinstance(item, str | os.PathLike):
                raise TypeError(
                    f"{function} takes arrays, not the path {os.fspath(item)!r}: read it "
                    f"with read_image(path).data{hint}."
                )


def check_flags(**flags: Any) -> None:
    """Refuse a yes / no setting that is not True, False (or None: the model's choice):
    fill_holes="no" was taken as yes, as any non-empty string is (API bug bash)."""
    for name, value in flags.items():
        if value is not None and not isinstance(value, bool | np.bool_):
            raise TypeError(f"{name} is True or False, not {value!r}.")


def swapped_for_model(images: Any, invert: bool, grey_note: str) -> tuple[Any, bool, str]:
    """The image (or list of images) a model sees, with dark and bright swapped when
    ``invert`` (:func:`~napari_unetseg._io.lazily_inverted`), after any colour
    conversion: a stained colour image taken by its hematoxylin channel (``grey_note``)
    shows its nuclei bright already and is left so (swapped before the conversion, its
    nuclei became the gaps between them: polarity bash). Returns the images, whether they
    were swapped, and a sentence for the input line ("" when nothing was asked)."""
    from ._io import lazily_inverted
    from .core.normalize import HEMATOXYLIN_NOTE

    if not invert:
        return images, False, ""
    if grey_note.endswith(HEMATOXYLIN_NOTE):
        return (
            images,
            False,
            (
                "Dark and bright not swapped (invert): a stained colour image is read by its "
                "hematoxylin channel, where the nuclei are bright already."
            ),
        )
    if isinstance(images, (list, tuple)):
        return [lazily_inverted(i) for i in images], True, "Dark and bright swapped (invert)."
    return lazily_inverted(images), True, "Dark and bright swapped (invert)."


def plain_array(array: Any) -> Any:
    """A torch tensor as a numpy array (detached, on the CPU; "Cannot interpret
    'torch.float32' as a data type" reached the user), a list of them each; anything
    else as it is."""
    if isinstance(array, (list, tuple)):
        return type(array)(plain_array(a) for a in array)
    if type(array).__name__ in ("ImageData", "ZarrImageData") and hasattr(array, "scale"):
        # "has data of type object; numbers are needed" said nothing of what to pass
        raise TypeError(
            "Pass the image's array, not what read_image returned: image.data (with "
            "scale=image.scale where the function takes one)."
        )
    if type(array).__module__.split(".")[0] == "torch" and hasattr(array, "detach"):
        tensor = array.detach().cpu()
        if str(tensor.dtype) == "torch.bfloat16":  # numpy has no bfloat16 (a TypeError)
            tensor = tensor.float()
        return tensor.numpy()
    return array


def arguments_of(*sources: Any, only: Sequence[str] | None = None) -> Callable[[F], F]:
    """Decorator of a function that forwards its ``**options`` to ``sources``.

    help() and inspect.signature show the function's own arguments, then each source's
    keyword arguments by name (``only`` these names, where given) in place of
    ``**options`` (benchmarks/bench_accuracy.py asks which keywords :func:`predict` and
    :func:`train` accept; IPython's ``?`` and editors show them), with the function's
    own return annotation. A source is a function or a class (its ``__init__``: a
    settings dataclass). Where the sources take no ``**`` of their own and ``only`` is not
    given, a keyword none of them takes is refused in the function's name, with the
    closest one (``predict(tilesize=...)`` said "predict_iter() got an unexpected
    keyword argument 'tilesize'"; API bug bash).
    """

    def decorate(function: F) -> F:
        own = inspect.signature(function)
        keyword = inspect.Parameter.VAR_KEYWORD
        parameters = [p for p in own.parameters.values() if p.kind is not keyword]
        named = {p.name for p in parameters}
        closed = only is None
        for source in sources:
            for p in inspect.signature(source).parameters.values():
                closed = closed and p.kind is not keyword
                if p.kind in (keyword, inspect.Parameter.VAR_POSITIONAL) or p.name in named:
                    continue
                if only is None or p.name in only:
                    parameters.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))
                    named.add(p.name)
        signature = own.replace(parameters=parameters)
        if not closed:
            function.__signature__ = signature
            return function

        def refused(unknown: list[str]) -> UnknownKeyword:
            return UnknownKeyword(unknown_keyword(function.__name__, unknown[0], named))

        if inspect.isgeneratorfunction(function):  # stays one (napari's thread_worker
            # makes a generator worker of it only then; review): refused at its first step

            @functools.wraps(function)
            def checked(*args: Any, **kwargs: Any) -> Any:
                unknown = [name for name in kwargs if name not in named]
                if unknown:
                    raise refused(unknown)
                return (yield from function(*args, **kwargs))

        else:

            @functools.wraps(function)
            def checked(*args: Any, **kwargs: Any) -> Any:
                unknown = [name for name in kwargs if name not in named]
                try:
                    return function(*args, **kwargs)
                except TypeError as exc:  # the function's own refusals (a keyword of
                    # another function, said with where it belongs) are kept; ours and
                    # Python's are said in the name called (segment, not segment_iter)
                    said = isinstance(exc, UnknownKeyword) or "unexpected" in str(exc)
                    if unknown and said:
                        raise refused(unknown) from None
                    raise

        checked.__signature__ = signature
        return checked  # type: ignore[return-value]

    return decorate


class UnknownKeyword(TypeError):
    """A keyword argument that an API function does not take (:func:`arguments_of`)."""


def unknown_keyword(caller: str, name: str, known: Any) -> str:
    """The sentence refusing keyword ``name`` of ``caller()``, naming the closest of
    ``known``."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{caller}() has no argument {name!r}{hint}; see help({caller}) for its arguments."


def load_model(model: ModelLike) -> ModelBundle:
    """A model by shipped/session name, by file path, or a bundle as is.

    Raises
    ------
    FileNotFoundError
        If it is neither a known model name nor an existing file.
    ModelFileError
        If the file is not a napari-unetseg model.
    """
    if isinstance(model, ModelBundle):
        return model
    if not isinstance(model, (str, os.PathLike)):  # os.fspath's "expected str, bytes or ..."
        if hasattr(model, "shape"):  # predict(model, image): the array's numbers were said
            raise TypeError(
                f"A model is a model name, a model file's path or a ModelBundle, not an "
                f"array of shape {tuple(model.shape)}: the image comes first, "
                "predict(image, model)."
            )
        raise TypeError(
            f"A model is a model name, a model file's path or a ModelBundle, not "
            f"{type(model).__name__} {model!r}."
        )
    name = os.fspath(model)
    if name in REGISTRY:
        return REGISTRY.get(name)
    path = Path(name).expanduser()
    if path.is_dir():  # an unpacked bioimage.io package: its description inside
        described = sorted([*path.glob("rdf.yaml"), *path.glob("*.bioimageio.yaml")])
        path = described[0] if described else path
    if path.is_file() or path.suffix.lower() == ".zip":
        return load_model_file(path)
    if path.suffix.lower() == ".pt" and path.stem in REGISTRY and path.name == name:
        # saved as "cells.pt" (save_model drops the ending), asked for by the same name
        return REGISTRY.get(path.stem)
    known = ", ".join(REGISTRY.names()) or "none"
    raise FileNotFoundError(
        f"Unknown model {name!r}: it is neither a model name (known: {known}) nor an "
        "existing model file."
    )


def load_model_file(path: str | os.PathLike) -> ModelBundle:
    """A model file: our ``.pt``, or a bioimage.io package (``.zip`` / ``rdf.yaml``).

    Our own bioimage.io exports come back fine-tunable; third-party packages with
    torchscript weights are predict-only (``bundle.trainable`` is False). See
    :mod:`napari_unetseg.bioimageio` for what is accepted.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ModelFileError
        If it is neither (one sentence saying why).
    """
    from .bioimageio import is_package

    if is_package(path):
        from .bioimageio import load_package

        return load_package(path)
    return ModelBundle.load(path)


def list_models() -> list[dict[str, Any]]:
    """The shipped models, the saved ones (:func:`save_model`) and the session's, one
    dict each (``name``, ``kind``, ``path``).

    Session models are those the docks trained or loaded from a file in this process
    (``path``: that file, or None), and any given to ``REGISTRY.register``; a model that
    :func:`train` or :func:`load_model` returns is a plain object, listed once saved.
    """
    rows = []
    for kind, files in (("shipped", REGISTRY.shipped()), ("saved", REGISTRY.saved())):
        rows += [{"name": name, "kind": kind, "path": str(path)} for name, path in files.items()]
    listed = {row["name"] for row in rows}
    for name in REGISTRY.session():
        if name not in listed:
            source = REGISTRY.source(name)
            path = None if source is None else str(source)
            rows.append({"name": name, "kind": "session", "path": path})
    return rows


def save_model(model: ModelLike, name: str | None = None) -> Path:
    """Save a model into the saved-models folder, so that every later session (widgets,
    API, CLI) lists it by ``name`` (default: the model's own name).

    The folder is the user's data folder (``~/.local/share/napari-unetseg/models`` on
    Linux) or ``$NAPARI_UNETSEG_MODELS``; a saved model of the same name is replaced.
    Returns the file written.

    Raises
    ------
    ValueError
        One sentence when the name is a shipped model's or makes no file name.
    """
    return REGISTRY.save_as(load_model(model), name)


#: A stack of unnamed axes with fewer planes than this may be channels: the model line
#: says how to split them.
MIN_STACK_PLANES = 5


def _channels_hint(sizes: list[int], axes: list[int]) -> str:
    """The model line's hint about the fewest planes among a stack's unnamed leading axes
    (``sizes``, at array axes ``axes``): fewer than :data:`MIN_STACK_PLANES` may be
    channels, and how to split them; "" when there are none so few."""
    few = [(n, i) for n, i in zip(sizes, axes, strict=True) if MIN_STACK_PLANES > n > 1]
    if not few:
        return ""
    n, at = min(few)
    if at == axes[0]:
        return (
            f"; if the {n} planes of its first axis are channels, split them (napari: "
            "right-click the layer, Split Stack) and segment the nuclear one"
        )
    return (
        f"; if the {n} planes of its axis {at} are channels, add each as its own layer "
        f"(viewer.add_image(data, channel_axis={at})) and segment the nuclear one"
    )


def default_model(
    shape: tuple[int, ...], axes: str | None = None, channel_axis: int | None = None
) -> tuple[str, str]:
    """The shipped model that fits an image, and why, in a few words.

    ``nuclei-3d`` for a Z stack (axes naming ``Z`` of more than one plane, or three or
    more non-channel axes of more than one element when the axes are unknown),
    ``nuclei-2d`` for a plane or a time series of planes. ``axes`` may name the channel
    axis (``C``, or tifffile's ``S``) or leave it out.
    """
    if not axes:  # an array from a PNG or JPEG: (Y, X, 3), a plane
        channel_axis = rgb_axis(shape, channel_axis)[0]
    n = len(shape) - (channel_axis is not None)
    spatial_axes = (axes or "").upper()
    ch = None if channel_axis is None else channel_axis % len(shape)
    sizes = [s for i, s in enumerate(shape) if i != ch]
    # A Z axis of one plane is no stack: a plane saved as (1, Y, X) or a series of
    # planes as (T, 1, Y, X) got nuclei-3d, where the CLI, reading the TIFF without it,
    # chose nuclei-2d (object-size bug bash). Axes may name the channel or not.
    named = [a for a in spatial_axes if a not in "CS"] if len(spatial_axes) != n else spatial_axes
    if "Z" in named and len(named) == n and sizes[list(named).index("Z")] == 1:
        spatial_axes, n = "".join(a for a in named if a != "Z"), n - 1
        if n < 3:
            return "nuclei-2d", "the image is a plane (its Z axis has one plane)"
    elif not spatial_axes and n >= 3 and sum(s > 1 for s in sizes) < 3:
        return "nuclei-2d", "the image is a plane (its other axes have one element)"
    if "Z" in spatial_axes and "T" in spatial_axes:  # said as a series of planes is
        return "nuclei-3d", f"the image is a series of Z stacks ({spatial_axes})"
    if "Z" in spatial_axes:
        return "nuclei-3d", "the image is a Z stack"
    if n >= 3 and not spatial_axes:
        # (3 channels first were measured as a Z stack of 3 planes; advice audit; napari's
        # Split Stack splits the first axis; the hint named the first axis where a later
        # one held the channels: 4 time points of 2 channels, TCYX; time-lapse bash)
        return "nuclei-3d", f"the image has {n} axes, read as a Z stack" + _channels_hint(
            sizes[:-2], [i for i in range(len(shape)) if i != ch][:-2]
        )
    if n >= 3:
        return "nuclei-2d", f"the image is a series of planes ({spatial_axes})"
    return "nuclei-2d", "the image is a plane"
