"""Length-prefixed JSON messages between the grader and its fork servers."""

from __future__ import annotations

import json
import struct
from typing import Any, BinaryIO

_HEADER = struct.Struct(">Q")
MAX_MESSAGE = 256 * 1024 * 1024


class ProtocolError(Exception):
    """The other side closed the stream or sent something that is not a message."""


def encode(message: Any) -> bytes:
    payload = json.dumps(message, separators=(",", ":")).encode()
    return _HEADER.pack(len(payload)) + payload


def write(stream: BinaryIO, message: Any) -> None:
    stream.write(encode(message))
    stream.flush()


def read(stream: BinaryIO) -> Any:
    header = _read_exactly(stream, _HEADER.size)
    (length,) = _HEADER.unpack(header)
    if length > MAX_MESSAGE:
        raise ProtocolError(f"message of {length} bytes is too large")
    try:
        return json.loads(_read_exactly(stream, length))
    except ValueError as error:
        raise ProtocolError(f"message is not JSON: {error}") from None


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    chunks, missing = [], size
    while missing:
        chunk = stream.read(missing)
        if not chunk:
            raise ProtocolError("stream closed")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def read_into(stream: BinaryIO) -> bytearray:
    """One message's body, unparsed, in a buffer of its own that the caller can wipe (`wipe`)."""
    (length,) = _HEADER.unpack(_read_exactly(stream, _HEADER.size))
    if length > MAX_MESSAGE:
        raise ProtocolError(f"message of {length} bytes is too large")
    body = bytearray(length)
    view, filled = memoryview(body), 0
    while filled < length:
        count = stream.readinto(view[filled:])
        if not count:
            raise ProtocolError("stream closed")
        filled += count
    return body


def frame(body: bytes | bytearray) -> list[bytes | bytearray]:
    """A raw body as a message: its header, then the body itself (not copied)."""
    return [_HEADER.pack(len(body)), body]


def wipe(*buffers: bytearray | None) -> None:
    """Overwrite buffers that held a submission's code or results, so no later child inherits them."""
    for buffer in buffers:
        if buffer is not None:
            buffer[:] = bytes(len(buffer))
