"""The colours of label values: scribble strokes (value v), the classes they paint
(class k in the colour of value k + 1, in previews and Segment's results) and the unsure
band's, as napari colour dicts. No Qt, no napari: the reader colours saved class labels
with them, the widgets their layers."""

from __future__ import annotations

from typing import Any

#: Colours chosen to stand out on grayscale / fluorescence images and from each other.
PALETTE = {
    1: (0.25, 0.55, 1.0, 1.0),  # blue: background
    2: (1.0, 0.6, 0.0, 1.0),  # orange: object
    3: (0.9, 0.2, 0.9, 1.0),  # magenta
    4: (0.2, 0.85, 0.3, 1.0),  # green
    5: (0.0, 0.75, 0.75, 1.0),  # teal (yellow, it vanished in the unsure band's yellow)
    6: (0.6, 0.35, 0.15, 1.0),  # brown
}
#: The unsure band's colour (Fine-tune's preview), which no class's strokes take.
UNSURE_COLOUR = (1.0, 0.9, 0.0, 1.0)
#: How many label values get a colour of their own (others are grey).
COLOURED_VALUES = 32


def scribble_colour(value: int) -> tuple[float, ...]:
    """The colour of scribble value ``value``: :data:`PALETTE`'s, then hues around the
    wheel (values 7 and up were all the same grey; classes bug bash)."""
    if value in PALETTE:
        return PALETTE[value]
    import colorsys

    hue = (0.08 + 0.618034 * value) % 1.0
    if 0.07 < hue < 0.23:  # orange-yellow to yellow-lime: the unsure band's (reviews)
        hue += 0.16
    return (*colorsys.hsv_to_rgb(hue, 0.75, 0.95), 1.0)


#: Scribble values and their colours.
SCRIBBLE_COLORS = {v: scribble_colour(v) for v in range(1, COLOURED_VALUES + 1)}
#: The preview's class k in the colour of the strokes that paint it (value k + 1): the
#: nuclei's orange strokes had green outlines, and green strokes meant another class.
PREVIEW_COLORS = {k: scribble_colour(k + 1) for k in range(1, COLOURED_VALUES)}


def label_colours(colors: dict[int, tuple[float, ...]]) -> dict[Any, tuple[float, ...]]:
    """A napari ``DirectLabelColormap``'s colour dict: 0 transparent, ``colors`` for
    their values, grey for any other value (the None key)."""
    out: dict[Any, tuple[float, ...]] = {0: (0.0, 0.0, 0.0, 0.0), None: (0.8, 0.8, 0.8, 1.0)}
    out.update(colors)
    return out
