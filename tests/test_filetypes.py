"""The one table of upload types (crm/core/filetypes.py), read by the istanze and the chat alike: each type by its
magic number, strictly (a full PDF or PNG signature, a RIFF that really is a WebP), whatever was declared."""

from __future__ import annotations

import io

import pytest

from crm.conversations import files as chat_files
from crm.core import filetypes
from crm.instances.service import file_problem

pytestmark = pytest.mark.db_independent  # no database: runs once, in the SQLite pass


def _webp() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), "#0066cc").save(out, "WEBP")
    return out.getvalue()


def test_each_type_by_its_magic_number() -> None:
    webp = _webp()
    assert filetypes.sniff(webp) == "image/webp"
    assert filetypes.sniff(b"%PDF-1.7\n...") == "application/pdf"
    assert filetypes.sniff(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert filetypes.sniff(b"\xff\xd8\xff\xe0....") == "image/jpeg"
    # strict: the whole signature, and a RIFF is a WebP only with WEBP and a VP8 chunk after its size
    for body in (
        b"%PDF",
        b"\x89PNG....",
        b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 16,  # a WAV
        b"RIFF\x24\x00\x00\x00WEBPJUNK" + b"\x00" * 16,
        b"RIFF\x24\x00\x00\x00WEBP",  # cut short
        b"MZ\x90\x00",
    ):
        assert filetypes.sniff(body) is None, body
    # the chat and the istanze share it: the same answers
    assert chat_files.sniff is filetypes.sniff
    assert chat_files.check(webp, 10_000) == ("image/webp", None)
    assert chat_files.check(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 16, 10_000) == (None, "type not allowed")
    assert file_problem("image/webp", webp, 10_000) is None
    assert file_problem("image/png", webp, 10_000) == ("content_type", "type not allowed")  # declared wrongly
    assert file_problem("image/webp", webp, 10) == ("content", "too large")
    assert chat_files.safe_name("foto", "image/webp") == "foto.webp"
    assert chat_files.is_image({"content_type": "image/webp"})
