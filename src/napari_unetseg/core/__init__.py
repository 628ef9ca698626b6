"""The engine: numpy + torch only (no napari, Qt or magicgui; a test enforces it)."""
