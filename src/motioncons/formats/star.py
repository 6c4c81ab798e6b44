"""STAR text as the programs write it, parsed with gemmi.

RELION (and Xmipp) write UTF-8 names bare, and gemmi, following the CIF rules, refuses bare
non-ASCII text. Such characters are escaped to an ASCII form before parsing; every value taken
from the document then goes through `unescape`.

Values written back (`star_value`, `requoted`) are quoted so that gemmi and RELION read them
unchanged.
"""

from __future__ import annotations

import re

import gemmi

_ESCAPE = re.compile(r"@u([0-9a-f]{6})@")


def parse_cif(text: str) -> tuple[gemmi.cif.Document, bool]:
    """Parse STAR text with gemmi, which refuses the unquoted UTF-8 names RELION writes: such
    characters are escaped to ASCII first (then `unescape` each value). True when escaped."""
    if text.isascii() or _ESCAPE.search(text):
        return gemmi.cif.read_string(text), False
    escaped = "".join(c if c.isascii() else f"@u{ord(c):06x}@" for c in text)
    return gemmi.cif.read_string(escaped), True


def unescape(value: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value) if "@u" in value else value


_BARE = re.compile(r"(?!(?i:data_|save_|loop_\Z|stop_\Z|global_\Z)|[.?]\Z)"
                   r"[!%&()*+,\-./0-9:<=>?@A-Z\\^`a-z{|}~][!-~]*\Z")
"""A value written bare: printable ASCII without blanks, not starting with a character or a
word that means something else, not ``.`` or ``?`` alone."""


def star_value(value: str) -> str:
    """`value` as a STAR/CIF token that gemmi and RELION read back unchanged: bare when the CIF
    rules allow it (printable ASCII without blanks, not starting with a character or word that
    means something else: ``_ # $ ' " [ ] ;``, ``data_``, ``loop_``...), else in double quotes as
    RELION writes names with spaces, or in whatever quoting the value allows."""
    if _BARE.match(value):
        return value
    if '"' not in value and "\n" not in value and "\r" not in value:
        return f'"{value}"'
    return gemmi.cif.quote(value)


def requoted(raw: str) -> str:
    """A raw value copied from a STAR file, to be written again: kept as written, unless it is
    bare non-ASCII text (RELION writes UTF-8 names bare, which gemmi cannot read)."""
    if raw.isascii() or raw[:1] in ("'", '"', ";"):
        return raw
    return star_value(raw)
