"""Many lines of text kept deflated, a block of lines at a time: a reference table's rows, kept
for the outputs that subset it, are about 160 bytes of repetitive text each (20 MB as strings
at 100,000 movies, 3.2 MB as kept here; 0.03 s to pack, 0.02 s to read them all again)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

import numpy as np

from ..deflate import fastest_text, inflate

BLOCK = 1024
"""Lines deflated together (a longer block compresses no better)."""


class PackedLines(Sequence[str]):
    """An immutable sequence of strings (any text, line breaks included), stored as deflated
    UTF-8 blocks of `block` lines with each line's end: read in order, block by block."""

    __slots__ = ("_block", "_blocks", "_count", "_ends")

    def __init__(self, lines: Iterable[str] = (), block: int = BLOCK) -> None:
        self._block = block
        self._blocks: list[bytes] = []
        self._ends: list[np.ndarray] = []
        self._count = 0
        items = iter(lines)
        while part := list(itertools.islice(items, block)):
            self._blocks.append(fastest_text("".join(part).encode("utf-8")))
            self._ends.append(np.cumsum([len(line) for line in part], dtype=np.int64))
            self._count += len(part)

    def __len__(self) -> int:
        return self._count

    def _lines(self, index: int) -> list[str]:
        text = inflate(self._blocks[index]).decode("utf-8")
        ends = self._ends[index].tolist()
        return [text[start:end] for start, end in zip([0, *ends[:-1]], ends, strict=True)]

    def __iter__(self) -> Iterator[str]:
        for index in range(len(self._blocks)):
            yield from self._lines(index)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._count)
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            found: list[str] = []
            for block in range(start // self._block, -(-stop // self._block)):
                first = block * self._block
                found += self._lines(block)[max(start - first, 0): stop - first]
            return found
        position = index + self._count if index < 0 else index
        if not 0 <= position < self._count:
            raise IndexError("PackedLines index out of range")
        return self._lines(position // self._block)[position % self._block]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PackedLines | list | tuple):
            return len(self) == len(other) and all(
                a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PackedLines({self._count} lines)"
