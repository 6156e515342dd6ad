"""An answer that was streamed, not kept: the rows' count and an order-sensitive hash of them.

A variant that consumes rows one at a time (what server-side cursors and `yield_per` are for)
cannot return them all without undoing its point. It folds each row, in the canonical form the
scenario's other variants are compared in, into a `StreamDigest` and returns that; the answer
check compares it with the digest of the reference's canonical answer, row for row in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class StreamDigest:
    """Rows seen so far: how many, and a hash of them in order (within one process)."""

    __slots__ = ("_hash", "count")

    def __init__(self) -> None:
        self.count = 0
        self._hash = 0

    def add(self, row: Any) -> None:
        self.count += 1
        try:
            self._hash = hash((self._hash, row))
        except TypeError:  # a row holding lists or dicts: by its text, as the expected rows are
            self._hash = hash((self._hash, repr(row)))

    @classmethod
    def of(cls, rows: Iterable[Any]) -> StreamDigest:
        digest = cls()
        for row in rows:
            digest.add(row)
        return digest

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StreamDigest):
            return NotImplemented
        return (self.count, self._hash) == (other.count, other._hash)

    def __hash__(self) -> int:
        return hash((self.count, self._hash))

    def __repr__(self) -> str:
        return f"StreamDigest({self.count} rows, hash {self._hash & 0xFFFFFFFF:08x})"

    def difference(self, expected: Any) -> str | None:
        """Where this digest and an expected answer (a digest, or the rows themselves) differ."""
        other = expected if isinstance(expected, StreamDigest) else StreamDigest.of(expected)
        if other.count != self.count:
            return f"streamed {self.count} rows, expected {other.count}"
        if other != self:
            return f"streamed {self.count} rows, but not the expected rows in the expected order"
        return None
