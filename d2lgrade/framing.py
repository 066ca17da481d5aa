"""Length-prefixed JSON messages over a pipe, the only thing that crosses it."""

from __future__ import annotations

import dataclasses
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


class TooLarge(FramingError):
    """A message over its reader's ``Bounds``, refused before it was parsed."""

    def __init__(self, detail: str, *, body_read: bool) -> None:
        super().__init__(f"message too large: {detail}")
        self.detail = detail
        """what was over, in words for the student, e.g. ``over 32 MiB``"""
        self.body_read = body_read
        """False when the body was left unread: the pipe is then mid-message"""


@dataclasses.dataclass(frozen=True)
class Bounds:
    """What a message from an untrusted sender may hold, checked before ``json.loads``:
    parsing is where its memory swells (1.7 GB for 40 MB of empty lists)."""

    size: int
    """bytes of its body"""
    values: int
    """an upper bound on its JSON values, counted as its ``[``, ``{`` and ``,`` bytes"""


#: What one answer from a student's process may hold. The graders' largest answers are 160 KB with
#: under 200 values: 32 MiB is 200 times that, and a generator of batches cut at ``wire.MAX_ITEMS``
#: (4.5 MiB, 270,000 values) fits too. Within these bounds one answer costs the grading process at
#: most about 200 MB and 4 s of CPU while it is read, parsed and decoded (150 MB for 71,000 small
#: tensors); 13 million empty lists in 40 MB once cost it 1.7 GB and 22 s.
ANSWER_BOUNDS = Bounds(size=32 * 2**20, values=1_000_000)


def write_message(fd: int, message: Any) -> None:
    """Send one JSON message on file descriptor ``fd``."""
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    if len(body) > MAX_MESSAGE:
        raise FramingError(f"message of {len(body)} bytes is over the limit of {MAX_MESSAGE}")
    data = memoryview(_HEADER.pack(len(body)) + body)
    while data:
        written = os.write(fd, data)
        data = data[written:]


def read_message(fd: int, timeout: float | None = None, bounds: Bounds | None = None) -> Any:
    """Receive one JSON message from ``fd``; None when the other side closed cleanly.

    With ``bounds``, a larger message raises ``TooLarge`` before it is parsed.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    header = _read_exactly(fd, _HEADER.size, deadline, allow_eof=True)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_MESSAGE:
        raise FramingError(f"message of {size} bytes is over the limit of {MAX_MESSAGE}")
    if bounds is not None and size > bounds.size:
        raise TooLarge(f"over {bounds.size / 2**20:g} MiB", body_read=False)
    body = _read_exactly(fd, size, deadline, allow_eof=False)
    if bounds is not None and _values_at_most(body) > bounds.values:
        raise TooLarge(f"over {bounds.values:,} values", body_read=True)
    return _parse(body)


def _values_at_most(body: bytearray) -> int:
    # Every JSON value but the first is a container or follows a comma; those bytes in strings only add.
    return body.count(b"[") + body.count(b"{") + body.count(b",") + 1


def _parse(body: bytearray) -> Any:
    try:
        return json.loads(body)
    except RecursionError:
        raise TooLarge("nested too deeply", body_read=True) from None
    except ValueError as exc:  # bad JSON or UTF-8, or an integer of over 4300 digits
        raise FramingError(f"not a JSON message: {exc}") from None


def _read_exactly(fd: int, size: int, deadline: float | None, *, allow_eof: bool) -> bytearray | None:
    # Read into one buffer: a list of chunks joined at the end held the message twice.
    buffer = bytearray(size)
    filled = 0
    with memoryview(buffer) as view:
        while filled < size:
            _wait_readable(fd, deadline)
            count = os.readv(fd, [view[filled:]])
            if not count:
                if allow_eof and filled == 0:
                    return None
                raise FramingError("the other side closed the pipe mid-message")
            filled += count
    return buffer


def _wait_readable(fd: int, deadline: float | None) -> None:
    if deadline is None:
        return
    left = deadline - time.monotonic()
    if left <= 0 or not select.select([fd], [], [], left)[0]:
        raise ReadTimeout("no answer in time")
