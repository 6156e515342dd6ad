"""Human-readable durations, the same in the console and in reports."""

from __future__ import annotations


def duration(us: float) -> str:
    """A duration given in microseconds, with three significant figures and a fitting unit."""
    if us >= 1e6:
        return f"{us / 1e6:.3g} s" if us < 1e8 else f"{us / 1e6:,.0f} s"
    if us >= 1e3:
        return f"{us / 1e3:.3g} ms" if us < 1e5 else f"{us / 1e3:,.0f} ms"
    return f"{us:.3g} µs" if us >= 1 else f"{us * 1e3:.3g} ns"
