"""The few Markdown pieces every section is made of."""
from __future__ import annotations

from typing import Any, Sequence


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table; cells are written with str()."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def met(ok: bool) -> str:
    """The last column of a targets table."""
    return "**met**" if ok else "**missed**"


def size(wh: Sequence[int]) -> str:
    """[1920, 1080] -> '1920x1080'."""
    return f"{wh[0]}x{wh[1]}"


def paragraphs(*parts: str) -> str:
    """Blocks of a section, one blank line apart; empty ones left out."""
    return "\n\n".join(part.strip("\n") for part in parts if part and part.strip()) + "\n"


def pct(share: float, digits: int = 1) -> str:
    """0.9792 -> '97.9 %' (the page's way of writing a share)."""
    return f"{100 * share:.{digits}f} %"


def count(n: int, noun: str) -> str:
    """(1, 'frame') -> '1 frame', (10, 'frame') -> '10 frames'."""
    return f"{n} {noun}{'s' * (n != 1)}"
