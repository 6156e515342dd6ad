"""Checks a variant's answer against the reference, and says where they first differ."""

from __future__ import annotations

from typing import Any


def first_difference(got: Any, expected: Any, path: str = "result") -> str | None:
    """None when equal; otherwise a short description of the first place they differ."""
    if type(got) is not type(expected) and not (
        isinstance(got, int | float) and isinstance(expected, int | float)
    ):
        return f"{path}: got {type(got).__name__}, expected {type(expected).__name__}"
    if isinstance(expected, dict):
        missing = [k for k in expected if k not in got]
        if missing:
            return f"{path}: missing key {missing[0]!r}"
        extra = [k for k in got if k not in expected]
        if extra:
            return f"{path}: unexpected key {extra[0]!r}"
        for key in expected:
            found = first_difference(got[key], expected[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list | tuple):
        for index, (g, e) in enumerate(zip(got, expected, strict=False)):
            found = first_difference(g, e, f"{path}[{index}]")
            if found:
                return found
        if len(got) != len(expected):
            return f"{path}: {len(got)} items, expected {len(expected)}"
        return None
    if got != expected:
        return f"{path}: got {_short(got)}, expected {_short(expected)}"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
