"""STAR text as the programs write it, parsed with gemmi.

RELION (and Xmipp) write UTF-8 names bare, and gemmi, following the CIF rules, refuses bare
non-ASCII text. Such characters are escaped to an ASCII form before parsing; every value taken
from the document then goes through `unescape`.
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
