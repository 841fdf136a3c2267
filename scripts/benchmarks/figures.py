"""The page's figures: a matplotlib axes to draw on, written as a PNG when drawing is done.
matplotlib is in the full environment only (the `bench` extra); without it, ImportError."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

from pibokeh.files import atomic_path


@contextlib.contextmanager
def figure(path: Path, size: tuple[float, float]) -> Iterator[Any]:
    """Axes of a `size`-inch figure; saved to `path` (atomically, 100 dpi) when the block ends."""
    import matplotlib
    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=size, dpi=100)
    try:
        yield ax
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
