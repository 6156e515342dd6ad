"""Human-readable durations and sizes, the same in the console and in reports."""

from __future__ import annotations


def duration(us: float) -> str:
    """A duration given in microseconds, with three significant figures and a fitting unit."""
    if us >= 1e6:
        return f"{us / 1e6:.3g} s" if us < 1e8 else f"{us / 1e6:,.0f} s"
    if us >= 1e3:
        return f"{us / 1e3:.3g} ms" if us < 1e5 else f"{us / 1e3:,.0f} ms"
    return f"{us:.3g} µs" if us >= 1 else f"{us * 1e3:.3g} ns"


def size(count: float) -> str:
    """A number of bytes with three significant figures in B, kB, MB or GB (powers of 1000)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if float(f"{count:.3g}") >= scale:  # 999,999 B rounds to 1 MB, not "1e+03 kB"
            value = count / scale
            return f"{value:.3g} {unit}" if value < 999.5 else f"{value:,.0f} {unit}"
    return f"{count:.0f} B"


def signed_duration(us: float) -> str:
    """A difference of two durations, which can come out below zero (e.g. of two medians)."""
    return ("-" if us < 0 else "") + duration(abs(us))


_UNITS_MS = {"us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3}
MAX_RTT_MS = 1000.0


def parse_rtt(text: str) -> float:
    """One round-trip time such as `0`, `500us`, `1ms`, `1.5ms` or `0.002s`, in milliseconds.
    Raises ValueError with a message that names the valid forms."""
    raw = text.strip().lower()
    valid = "expected 0 or a number with a unit: 500us, 1ms, 2.5ms, 0.01s"
    if raw == "0":
        return 0.0
    for unit in sorted(_UNITS_MS, key=len, reverse=True):
        if raw.endswith(unit):
            number = raw[: -len(unit)].strip()
            try:
                value = float(number) * _UNITS_MS[unit]
            except ValueError:
                raise ValueError(f"rtt {text!r}: {valid}") from None
            if not value >= 0:  # also NaN
                raise ValueError(f"rtt {text!r} must not be negative")
            if value > MAX_RTT_MS:
                raise ValueError(f"rtt {text!r} is more than {MAX_RTT_MS:g} ms; {valid}")
            return value
    raise ValueError(f"rtt {text!r}: {valid}")


def parse_rtt_list(text: str) -> tuple[float, ...]:
    """`0,1ms,2ms` -> (0.0, 1.0, 2.0): distinct values in the order given."""
    values: list[float] = []
    for part in text.split(","):
        if not part.strip():
            raise ValueError(f"rtt list {text!r} has an empty value; e.g. 0,1ms,2ms")
        value = parse_rtt(part)
        if value not in values:
            values.append(value)
    return tuple(values)


def rtt_text(ms: float) -> str:
    """0 -> '0 ms' (loopback), 1.0 -> '1 ms', 0.5 -> '500 µs'."""
    return f"{ms:g} ms" if ms == 0 or ms >= 1 else f"{ms * 1e3:g} µs"
