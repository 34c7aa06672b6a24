"""Small files whose first bytes say what they are (what `filetype` reads), for the media
tests: not playable, but recognised as their type, as a real file would be."""

from __future__ import annotations

from typing import Final


def _pad(head: bytes, size: int = 600) -> bytes:
    return head + bytes(range(256)) * (size // 256 + 1)


PNG: Final = _pad(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02")
JPEG: Final = _pad(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01")
WEBP: Final = _pad(b"RIFF\x00\x10\x00\x00WEBPVP8 ")
MP4: Final = _pad(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2")
OGG_OPUS: Final = _pad(b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x13OpusHead\x01\x01")
MP3: Final = _pad(b"ID3\x03\x00\x00\x00\x00\x00\x21")
PDF: Final = _pad(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
