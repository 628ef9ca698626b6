"""The live preview redraws the region it wrote, as napari's painting does, and draws
what a whole refresh draws."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from napari.utils._proxies import PublicOnlyProxy

from napari_unetseg._qt.finetune.preview import _empty, redraw


@pytest.mark.parametrize("contour", [0, 2])
@pytest.mark.parametrize("stack", [False, True])
def test_a_redrawn_region_shows_what_a_whole_refresh_shows(
    make_napari_viewer, monkeypatch, contour, stack
):
    """A whole refresh recomputed the outlines of the whole image at each preview:
    12-15 s a preview at 20000 x 20000 (GUI-thread bash). The region alone is redrawn;
    the colours drawn must be those of a whole refresh, for outlines and for fills."""
    viewer = make_napari_viewer(show=True)  # drawn: a texture to update in part
    shape = (3, 96, 128) if stack else (96, 128)
    layer = viewer.add_labels(np.zeros(shape, np.uint8), name="cells [preview]")
    layer.contour = contour
    if stack:
        viewer.dims.set_point(0, 1)
    region = ((1,) if stack else ()) + (slice(20, 70), slice(30, 100))
    values = np.zeros((50, 70), np.uint8)
    values[10:30, 10:40] = 1
    values[35:45, 50:65] = 2
    layer.data[region] = values
    whole = []
    monkeypatch.setattr(layer, "refresh", lambda *a, **k: whole.append(1))
    with warnings.catch_warnings():  # a plugin's layers come behind napari's proxy, which
        warnings.simplefilter("error")  # warns of private parts (review: it fell back)
        redraw(PublicOnlyProxy(layer), region)
    assert not whole  # the region alone (napari's partial refresh) was redrawn
    monkeypatch.undo()
    drawn = np.array(layer._slice.image.view, copy=True)
    layer.refresh()
    assert np.array_equal(drawn, layer._slice.image.view)
    assert np.unique(drawn.reshape(-1, drawn.shape[-1]), axis=0).shape[0] > 1  # not blank
    _empty(layer)
    assert not layer.data.any()
    emptied = np.array(layer._slice.image.view, copy=True)
    layer.refresh()
    assert np.array_equal(emptied, layer._slice.image.view)
