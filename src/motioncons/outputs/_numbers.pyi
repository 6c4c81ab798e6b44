from collections.abc import Sequence

def finite_formatted(
    values: Sequence[object], code: str, precision: int, missing: str | None = None, /
) -> list[str] | None: ...

def joined_lines(columns: list[list[str]], separator: str, end: str, /) -> str: ...
