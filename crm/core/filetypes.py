"""The files citizens and operators may upload (istanze, chat, the phone desk): PDF, JPEG, PNG and WebP, each
recognised by its magic number whatever the sender declared. The one table: ``crm.instances.service.file_problem``
and ``crm.conversations.files`` both read it."""

from __future__ import annotations

PDF, JPEG, PNG, WEBP = "application/pdf", "image/jpeg", "image/png", "image/webp"
ALLOWED = frozenset({PDF, JPEG, PNG, WEBP})
IMAGES = (JPEG, PNG, WEBP)
EXTENSIONS = {PDF: ".pdf", PNG: ".png", JPEG: ".jpg", WEBP: ".webp"}
ACCEPT = "image/jpeg,image/png,image/webp,application/pdf"  # the file inputs' accept attribute
WORDS = "PDF, JPEG, PNG o WebP"  # in the Italian texts that list them

_PREFIX = (
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
)
# a WebP is a RIFF container: "RIFF", its size (4 bytes, little-endian), "WEBP", then a VP8, VP8L or VP8X chunk
_WEBP_CHUNKS = (b"VP8 ", b"VP8L", b"VP8X")


def _is_webp(body: bytes) -> bool:
    return len(body) >= 16 and body[:4] == b"RIFF" and body[8:12] == b"WEBP" and body[12:16] in _WEBP_CHUNKS


def sniff(body: bytes) -> str | None:
    """The type the content is, by its magic number (what the sender declared does not count); None: not one of
    ours."""
    if _is_webp(body):
        return WEBP
    return next((ctype for magic, ctype in _PREFIX if body.startswith(magic)), None)


def is_a(content_type: str, body: bytes) -> bool:
    """The content is what was declared (and an allowed type)."""
    return content_type in ALLOWED and sniff(body) == content_type
