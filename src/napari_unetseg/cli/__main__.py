"""``python -m napari_unetseg.cli``: the ``unetseg`` command."""

import sys

from . import main

sys.exit(main())
