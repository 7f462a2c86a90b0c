"""The frames on the sandbox's pipes: an 8-byte big-endian length, then that many bytes (`wire` says what each holds).

The launcher reads its one message through this module alone, before it enters the namespaces: it
imports only `json` and `struct`, so the launcher's interpreter (on the critical path of every fork
server's start) loads nothing else of the grader's wire formats.
"""

from __future__ import annotations

import json
import struct

# Not `typing.TYPE_CHECKING`: importing `typing` is a tenth of the launcher's imports.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

HEADER = struct.Struct(">Q")
MAX_MESSAGE = 256 * 1024 * 1024


class ProtocolError(Exception):
    """The other side closed the stream or sent something that is not a message."""


def encode(message: Any) -> bytes:
    """A message as one frame of compact JSON."""
    payload = json.dumps(message, separators=(",", ":")).encode()
    return HEADER.pack(len(payload)) + payload


def frame(body: bytes | bytearray) -> list[bytes | bytearray]:
    """A raw body as a frame: its header, then the body itself (not copied)."""
    return [HEADER.pack(len(body)), body]


def write(stream: BinaryIO, message: Any) -> None:
    stream.write(encode(message))
    stream.flush()


def read(stream: BinaryIO) -> Any:
    """One frame's JSON message."""
    length = _length(_read_exactly(stream, HEADER.size))
    try:
        return json.loads(_read_exactly(stream, length))
    except ValueError as error:
        raise ProtocolError(f"message is not JSON: {error}") from None


def read_into(stream: BinaryIO) -> bytearray:
    """One frame's body, unparsed, in a buffer of its own that the caller can wipe (`wipe`)."""
    length = _length(_read_exactly(stream, HEADER.size))
    body = bytearray(length)
    view, filled = memoryview(body), 0
    while filled < length:
        count = stream.readinto(view[filled:])
        if not count:
            raise ProtocolError("stream closed")
        filled += count
    return body


def _length(header: bytes | bytearray) -> int:
    (length,) = HEADER.unpack(header)
    if length > MAX_MESSAGE:
        raise ProtocolError(f"message of {length} bytes is too large")
    return length


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    chunks, missing = [], size
    while missing:
        chunk = stream.read(missing)
        if not chunk:
            raise ProtocolError("stream closed")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def wipe(*buffers: bytearray | None) -> None:
    """Overwrite buffers that held a submission's code or results, so no later child inherits them."""
    for buffer in buffers:
        if buffer is not None:
            buffer[:] = bytes(len(buffer))
