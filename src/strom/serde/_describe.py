"""Short, safe descriptions of values and payloads for error messages (never on the hot path)."""

from __future__ import annotations

from typing import Any

_PREVIEW_BYTES = 40


def preview(data: Any) -> str:
    """A bounded repr of ``data`` for an error message: the first bytes and the total size.

    Example:
        >>> preview(b"x" * 100)
        "b'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'... (100 bytes)"
        >>> preview(b"{bad")
        "b'{bad' (4 bytes)"
    """
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        head = repr(raw[:_PREVIEW_BYTES])
        more = "..." if len(raw) > _PREVIEW_BYTES else ""
        return f"{head}{more} ({len(raw)} bytes)"
    text = repr(data)
    if len(text) > 2 * _PREVIEW_BYTES:
        text = text[: 2 * _PREVIEW_BYTES] + "..."
    return f"{text} ({type(data).__name__})"
