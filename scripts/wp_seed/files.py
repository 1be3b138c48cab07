"""Real media files generated in pure Python: RGB PNGs in a few patterns, one-page PDFs."""

import struct
import zlib


def png_bytes(width, height, style, c1, c2, rng):
    """A real RGB PNG (8 bit, no interlace) drawn in one of a few cheap patterns."""
    def mix(t):
        return bytes(round(a + (b - a) * t) for a, b in zip(c1, c2))

    rows = []
    if style == "noise":
        for _ in range(height):
            rows.append(rng.randbytes(width * 3))
    elif style == "vgradient":
        for y in range(height):
            rows.append(mix(y / max(1, height - 1)) * width)
    elif style == "hgradient":
        row = b"".join(mix(x / max(1, width - 1)) for x in range(width))
        rows = [row] * height
    elif style == "checker":
        cell = max(8, min(width, height) // 8)
        a, b = bytes(c1), bytes(c2)
        even = b"".join((a if (x // cell) % 2 == 0 else b) * min(cell, width - x) for x in range(0, width, cell))
        odd = b"".join((b if (x // cell) % 2 == 0 else a) * min(cell, width - x) for x in range(0, width, cell))
        rows = [even if (y // cell) % 2 == 0 else odd for y in range(height)]
    else:  # diagonal stripes
        period = max(16, width // 12)
        unit = bytes(c1) * (period // 2) + bytes(c2) * (period - period // 2)
        strip = unit * (width // period + 2)
        for y in range(height):
            offset = (y % period) * 3
            rows.append(strip[offset:offset + width * 3])
    raw = b"".join(b"\x00" + row for row in rows)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"tEXt", b"Software\x00understudy wp-seed")
            + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b""))


def pdf_bytes(title, lines):
    """A small valid one-page PDF with a few lines of Helvetica text."""
    text = "BT /F1 14 Tf 72 740 Td 18 TL " + " ".join(
        "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") Tj T*"
        for line in [title] + lines) + " ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text.encode("latin-1") + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
