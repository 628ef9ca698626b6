"""Property-based tests (hypothesis): the reader never raises into napari, the
normalization follows its NaN policy and keeps order, the tile grid covers every pixel
with positive weights, the voxel metrics equal scikit-learn's.

Kept fast: few examples each, no deadline (the machine is shared)."""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

FAST = settings(
    max_examples=25,
    database=None,  # no .hypothesis folder in the checkout
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# -- the reader --------------------------------------------------------------------------------
DTYPES = st.sampled_from(["uint8", "uint16", "int16", "float32", "float64", "int32"])
SIZES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**6))
UNITS = st.sampled_from(["µm", "um", "micron", "nm", "pixel", "", "furlong", "\\u00B5m"])


@st.composite
def tiff_bytes(draw) -> bytes:
    """A TIFF with random shape, dtype, axes and metadata (OME, ImageJ or plain
    resolution tags), possibly truncated or with random bytes spliced in."""
    ndim = draw(st.integers(2, 4))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=ndim, max_size=ndim)))
    data = np.zeros(shape, draw(DTYPES))
    flavour = draw(st.sampled_from(["ome", "imagej", "plain"]))
    buf = io.BytesIO()
    kwargs: dict = {}
    if flavour == "ome":
        axes = draw(st.sampled_from(["YX", "ZYX", "CYX", "TZYX", "ZCYX", "TYX"]))
        assume(len(axes) == ndim)
        kwargs["metadata"] = {
            "axes": axes,
            "PhysicalSizeX": draw(SIZES),
            "PhysicalSizeY": draw(SIZES),
            "PhysicalSizeXUnit": draw(UNITS),
            "Name": draw(st.text(max_size=8)),
        }
        kwargs["ome"] = True
    elif flavour == "imagej":
        assume(data.dtype.name in ("uint8", "uint16", "float32"))
        kwargs["imagej"] = True
        kwargs["metadata"] = {"spacing": draw(SIZES), "unit": draw(UNITS)}
    if draw(st.booleans()):
        kwargs["resolution"] = (draw(st.floats(0, 1e6)), draw(st.floats(0, 1e6)))
        kwargs["resolutionunit"] = draw(st.sampled_from(["CENTIMETER", "INCH", "NONE"]))
    try:
        tifffile.imwrite(buf, data, **kwargs)
    except Exception:  # tifffile refuses some combinations: nothing to read then
        assume(False)
    raw = buf.getvalue()
    damage = draw(st.sampled_from(["none", "truncate", "splice"]))
    if damage == "truncate":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif damage == "splice":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=64)) + raw[at + 1 :]
    return raw


def _open_in_napari_way(path, warned: list[str]) -> None:
    from napari_unetseg import _reader

    reader = _reader.napari_get_reader(str(path))
    if reader is not None:
        layers = reader(str(path))
        for data, meta, kind in layers or []:
            assert kind in ("image", "labels")
            channels = "channel_axis" in meta or bool(meta.get("rgb"))
            assert len(meta["scale"]) == np.ndim(data) - channels


@pytest.fixture
def warned(monkeypatch) -> list[str]:
    import napari.utils.notifications as notifications

    shown: list[str] = []
    monkeypatch.setattr(notifications, "show_warning", shown.append)
    return shown


@FAST
@given(raw=tiff_bytes())
def test_reader_never_raises_on_random_tiffs(tmp_path, warned, raw):
    path = tmp_path / "random.tif"
    path.write_bytes(raw)
    _open_in_napari_way(path, warned)
    assert all("\n" not in w for w in warned)


@FAST
@given(
    raw=st.binary(max_size=512), magic=st.sampled_from([b"II*\x00", b"MM\x00*", b"II+\x00", b""])
)
def test_reader_never_raises_on_random_bytes(tmp_path, warned, raw, magic):
    path = tmp_path / "noise.tif"
    path.write_bytes(magic + raw)
    _open_in_napari_way(path, warned)


# -- normalization -----------------------------------------------------------------------------
FLOATS = hnp.arrays(
    np.float32,
    hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=12),
    elements=st.one_of(st.floats(-1e6, 1e6, width=32), st.sampled_from([np.nan, np.inf, -np.inf])),
)


@FAST
@given(image=FLOATS)
def test_normalization_policy(image):
    from napari_unetseg.core.guards import NonFiniteWarning
    from napari_unetseg.core.normalize import Normalizer, resolve_layout

    layout = resolve_layout(image.shape, 2)
    finite = np.isfinite(image)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if not finite.any():
            with pytest.raises(ValueError, match="no finite values"):
                Normalizer.from_image(image, layout)
            return
        norm = Normalizer.from_image(image, layout)
    warned = any(issubclass(w.category, NonFiniteWarning) for w in caught)
    assert warned == (not finite.all())  # warned exactly when something is not finite
    out = norm(image[None])[0]
    assert out.dtype == np.float32 and np.isfinite(out).all()
    # non-finite -> the value of a finite pixel (the nearest), no level of their own
    assert np.isin(out[~finite], out[finite]).all()
    # Order of the finite values is kept (percentile scaling is monotonic).
    a, b = image[finite], out[finite]
    order = np.argsort(a, kind="stable")
    assert (np.diff(b[order]) >= -1e-4 * max(1.0, float(np.abs(b).max()))).all()


# -- the tile grid -----------------------------------------------------------------------------
@FAST
@given(
    shape=st.lists(st.integers(1, 200), min_size=1, max_size=3),
    tile=st.integers(1, 64),
    overlap=st.floats(0.0, 0.9),
)
def test_tile_grid_covers_every_pixel(shape, tile, overlap):
    from napari_unetseg.core.inference.grid import gaussian_weights, tile_grid

    shape = tuple(min(s, 48) if len(shape) == 3 else s for s in shape)  # small 3D volumes
    tiles = (tile,) * len(shape)
    padded = tuple(max(s, t) for s, t in zip(shape, tiles))
    cover = np.zeros(padded, np.int32)
    corners = tile_grid(padded, tiles, overlap)
    for start in corners:
        assert all(0 <= s and s + t <= p for s, t, p in zip(start, tiles, padded))
        cover[tuple(slice(s, s + t) for s, t in zip(start, tiles))] += 1
    assert cover.min() >= 1  # every pixel in at least one tile
    # No more tiles than the overlap asks for (plus one per axis for the edge).
    stride = [t * (1 - overlap) for t in tiles]
    bound = math.prod(math.ceil(max(p - t, 0) / s) + 1 for p, t, s in zip(padded, tiles, stride))
    assert len(corners) <= bound
    weights = gaussian_weights(tiles)
    assert weights.shape == tiles and (weights > 0).all() and weights.max() == 1.0


# -- metrics against scikit-learn ----------------------------------------------------------------
@st.composite
def label_pairs(draw):
    shape = tuple(draw(st.lists(st.integers(1, 8), min_size=2, max_size=3)))
    k = draw(st.integers(2, 5))
    labels = hnp.arrays(np.uint8, shape, elements=st.integers(0, k - 1))
    return draw(labels), draw(labels)


@FAST
@given(pair=label_pairs())
def test_voxel_metrics_match_scikit_learn(pair):
    from sklearn.metrics import f1_score, jaccard_score, precision_score, recall_score

    from napari_unetseg import api

    pred, truth = pair
    result = api.evaluate(pred, truth, objects=False, instances="none")
    y_true, y_pred = truth.ravel(), pred.ravel()
    ids = sorted(result.classes)
    assert set(ids) >= set(np.unique(np.concatenate([y_true, y_pred])).tolist())
    ours = {m: np.array([result.classes[c][m] for c in ids]) for m in ("dice", "iou")}
    ours["sensitivity"] = np.array([result.classes[c]["sensitivity"] for c in ids])
    ours["precision"] = np.array([result.classes[c]["precision"] for c in ids])
    kw = {"labels": ids, "average": None, "zero_division": 0}
    theirs = {
        "dice": f1_score(y_true, y_pred, **kw),
        "iou": jaccard_score(y_true, y_pred, **kw),
        "sensitivity": recall_score(y_true, y_pred, **kw),
        "precision": precision_score(y_true, y_pred, **kw),
    }
    in_true = np.isin(ids, y_true)
    in_pred = np.isin(ids, y_pred)
    defined = {  # where the ratio has a non-zero denominator
        "dice": in_true | in_pred,
        "iou": in_true | in_pred,
        "sensitivity": in_true,
        "precision": in_pred,
    }
    for name, ok in defined.items():
        np.testing.assert_allclose(ours[name][ok], theirs[name][ok], atol=1e-6, err_msg=name)
