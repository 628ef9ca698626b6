"""``python -m napari_unetseg``: the ``unetseg`` command, as ``python -m
napari_unetseg.cli`` (it said the package "cannot be directly executed"; CLI bug bash)."""

import sys

from .cli import main

sys.exit(main())
