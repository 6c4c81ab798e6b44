"""A one-page PDF of an indexed image (a `canvas`), for what asks for a PDF (RELION's
``logfile.pdf``): the image's rows and palette as they are, compressed once; PDF's Flate filter
with the PNG predictors reads a canvas' rows (each its filter byte 0, then its pixels) as
they stand (PDF 1.4, ISO 32000-1 §7.4.4.4)."""

from __future__ import annotations

import numpy as np

from ..deflate import fastest


def indexed_pdf(rows: np.ndarray, palette: bytes, dpi: float) -> bytes:
    """A PDF whose page is the image `rows` (uint8, (height, 1 + width), a `canvas`) in the
    RGB `palette` (1 to 256 colours), at `dpi` pixels an inch."""
    height, width = rows.shape[0], rows.shape[1] - 1
    colours = len(palette) // 3
    if (rows.dtype != np.uint8 or rows.ndim != 2 or not rows.flags.c_contiguous
            or width < 1 or height < 1 or not 0 < colours <= 256 or len(palette) != 3 * colours
            or not dpi > 0):
        raise ValueError("a PDF page needs C-contiguous uint8 rows, 1 to 256 RGB palette "
                         "colours and a positive resolution")
    page = f"{width * 72 / dpi:.2f} {height * 72 / dpi:.2f}"
    image = (f"/Type /XObject /Subtype /Image /Width {width} /Height {height} "
             f"/ColorSpace [/Indexed /DeviceRGB {colours - 1} <{palette.hex()}>] "
             f"/BitsPerComponent 8 /Filter /FlateDecode /DecodeParms << /Predictor 15 "
             f"/Colors 1 /BitsPerComponent 8 /Columns {width} >>")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {page}] /Resources << /XObject "
         "<< /Figure 5 0 R >> >> /Contents 4 0 R >>").encode(),
        _stream("", f"q {page.replace(' ', ' 0 0 ')} 0 0 cm /Figure Do Q".encode()),
        _stream(image, fastest(rows.data)),
    ]
    document = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(document))
        document += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    table = len(document)
    document += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    document += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    document += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, table)
    return bytes(document)


def _stream(entries: str, data: bytes) -> bytes:
    return b"<< %s /Length %d >>\nstream\n%s\nendstream" % (entries.encode(), len(data), data)
