"""Length-prefixed JSON messages over a pipe, the only thing that crosses it."""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

#: A message larger than this is refused, whoever sends it.
MAX_MESSAGE = 256 * 1024 * 1024

_HEADER = struct.Struct("!Q")


class FramingError(IOError):
    """The other side sent something that is not a message, or went away."""


class ReadTimeout(FramingError):
    """No whole message arrived in time."""


def write_message(fd: int, message: Any) -> None:
    """Send one JSON message on file descriptor ``fd``."""
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    if len(body) > MAX_MESSAGE:
        raise FramingError(f"message of {len(body)} bytes is over the limit of {MAX_MESSAGE}")
    data = memoryview(_HEADER.pack(len(body)) + body)
    while data:
        written = os.write(fd, data)
        data = data[written:]


def read_message(fd: int, timeout: float | None = None) -> Any:
    """Receive one JSON message from ``fd``; None when the other side closed cleanly."""
    deadline = None if timeout is None else time.monotonic() + timeout
    header = _read_exactly(fd, _HEADER.size, deadline, allow_eof=True)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_MESSAGE:
        raise FramingError(f"message of {size} bytes is over the limit of {MAX_MESSAGE}")
    body = _read_exactly(fd, size, deadline, allow_eof=False)
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise FramingError(f"not a JSON message: {exc}") from None


def _read_exactly(fd: int, size: int, deadline: float | None, *, allow_eof: bool) -> bytes | None:
    chunks, remaining = [], size
    while remaining:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise ReadTimeout("no answer in time")
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            if allow_eof and remaining == size:
                return None
            raise FramingError("the other side closed the pipe mid-message")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
