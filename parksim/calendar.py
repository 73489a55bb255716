"""Calendar months and model time.

The model's clock counts months (floats) from the scenario's calendar start: ``t = 0`` is the
first instant of the start month and ``t = 12`` the first instant of the month one year later.
Scenario files speak in calendar months ("YYYY-MM"); this module converts between the two so
that no other module does date arithmetic.
"""

from __future__ import annotations

import re

__all__ = ["parse_month", "month_index", "month_label", "year_of"]

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str) -> tuple[int, int]:
    """Parse ``"YYYY-MM"`` into ``(year, month)``; raise ``ValueError`` otherwise."""
    match = _MONTH.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"expected a calendar month 'YYYY-MM', got {text!r}")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12 or not 1900 <= year <= 2200:
        raise ValueError(f"expected a calendar month 'YYYY-MM', got {text!r}")
    return year, month


def month_index(start: str, month: str) -> int:
    """Whole months from ``start`` to ``month`` (0 when they are the same month)."""
    y0, m0 = parse_month(start)
    y1, m1 = parse_month(month)
    return (y1 - y0) * 12 + (m1 - m0)


def month_label(start: str, index: int) -> str:
    """Calendar label ``"YYYY-MM"`` of the month ``index`` months after ``start``."""
    y0, m0 = parse_month(start)
    total = y0 * 12 + (m0 - 1) + index
    return f"{total // 12:04d}-{total % 12 + 1:02d}"


def year_of(start: str, t: float) -> int:
    """Calendar year containing model time ``t``."""
    y0, m0 = parse_month(start)
    return (y0 * 12 + (m0 - 1) + int(t)) // 12
