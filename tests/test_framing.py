"""Length-prefixed JSON messages over a pipe."""

import os
import threading
import time
import tracemalloc
from collections.abc import Iterator

import pytest

from d2lgrade import framing
from d2lgrade.framing import (
    ANSWER_BOUNDS,
    Bounds,
    FramingError,
    ReadTimeout,
    TooLarge,
    read_message,
    write_message,
)


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    """A fresh ``(read_fd, write_fd)`` pair; whatever the test left open is closed after."""
    read_fd, write_fd = os.pipe()
    yield read_fd, write_fd
    for fd in (read_fd, write_fd):
        try:
            os.close(fd)
        except OSError:
            pass


def _header(size: int) -> bytes:
    return framing._HEADER.pack(size)


def test_messages_round_trip_in_order(pipe):
    read_fd, write_fd = pipe
    messages = [{"op": "call", "args": [1, 2.5, None, True]}, "ünïcødé", [], 0, {"nested": {"deep": [[{}]]}}]
    for message in messages:
        write_message(write_fd, message)
    assert [read_message(read_fd, timeout=1) for _ in messages] == messages


def test_large_message_arrives_whole(pipe):
    read_fd, write_fd = pipe
    message = {"data": "x" * (3 << 20)}  # larger than a pipe's buffer: the writer must wait for the reader
    writer = threading.Thread(target=write_message, args=(write_fd, message))
    writer.start()
    try:
        assert read_message(read_fd, timeout=10) == message
    finally:
        writer.join(timeout=10)


def test_clean_eof_returns_none(pipe):
    read_fd, write_fd = pipe
    write_message(write_fd, {"last": 1})
    os.close(write_fd)
    assert read_message(read_fd, timeout=1) == {"last": 1}
    assert read_message(read_fd, timeout=1) is None


def test_read_timeout_when_nothing_arrives(pipe):
    read_fd, _ = pipe
    started = time.monotonic()
    with pytest.raises(ReadTimeout):
        read_message(read_fd, timeout=0.05)
    assert time.monotonic() - started < 1.0


def test_read_timeout_when_only_half_a_message_arrives(pipe):
    read_fd, write_fd = pipe
    os.write(write_fd, _header(100) + b'{"half":')
    with pytest.raises(ReadTimeout):
        read_message(read_fd, timeout=0.05)


@pytest.mark.parametrize(
    "partial",
    [_header(10)[:3], _header(10) + b'{"a"'],
    ids=["half a header", "half a body"],
)
def test_half_a_message_then_eof_is_a_framing_error(pipe, partial):
    read_fd, write_fd = pipe
    os.write(write_fd, partial)
    os.close(write_fd)
    with pytest.raises(FramingError, match="mid-message") as caught:
        read_message(read_fd, timeout=1)
    assert not isinstance(caught.value, ReadTimeout)


def test_oversized_header_is_refused_without_reading_the_body(pipe):
    read_fd, write_fd = pipe
    os.write(write_fd, _header(framing.MAX_MESSAGE + 1))
    with pytest.raises(FramingError, match="over the limit"):
        read_message(read_fd, timeout=1)


def test_oversized_message_is_not_sent(pipe, monkeypatch):
    read_fd, write_fd = pipe
    monkeypatch.setattr(framing, "MAX_MESSAGE", 16)
    with pytest.raises(FramingError, match="over the limit"):
        write_message(write_fd, {"data": "x" * 100})
    with pytest.raises(ReadTimeout):  # nothing at all was written
        read_message(read_fd, timeout=0.01)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"{'single': 'quotes'}", b"\xff\xfe\x00bad utf-8", b"", b"1" * 5000],
    ids=["text", "python literal", "not utf-8", "empty body", "integer of 5000 digits"],
)
def test_body_that_is_not_json_is_refused(pipe, body):
    read_fd, write_fd = pipe
    os.write(write_fd, _header(len(body)) + body)
    with pytest.raises(FramingError, match="not a JSON message"):
        read_message(read_fd, timeout=1)


def test_json_nested_too_deeply_is_refused(pipe):
    read_fd, write_fd = pipe
    depth = 200_000  # past the json parser's recursion limit on every Python version
    body = b"[" * depth + b"]" * depth
    writer = threading.Thread(target=os.write, args=(write_fd, _header(len(body)) + body))
    writer.start()
    try:
        with pytest.raises(FramingError):
            read_message(read_fd, timeout=10)
    finally:
        os.close(read_fd)  # lets a writer still blocked on the pipe finish
        writer.join(timeout=10)


def test_a_message_after_a_refused_one_is_not_misread(pipe):
    read_fd, write_fd = pipe
    os.write(write_fd, _header(3) + b"bad")
    write_message(write_fd, {"next": True})
    with pytest.raises(FramingError):
        read_message(read_fd, timeout=1)
    assert read_message(read_fd, timeout=1) == {"next": True}


# ------------------------------------------------------------------ bounds on what a reader takes


def _write_all(fd: int, data: bytes) -> None:
    try:
        os.write(fd, data)  # a blocking pipe takes all of it, as the reader reads
    except OSError:
        pass  # the reader closed the pipe after a refusal


def _read_measured(pipe, data: bytes, bounds: Bounds):
    """Send ``data`` from a thread and read one message under ``bounds``: what it raised, and its
    seconds and peak of allocated bytes."""
    read_fd, write_fd = pipe
    writer = threading.Thread(target=_write_all, args=(write_fd, data))
    writer.start()
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(TooLarge) as caught:
            read_message(read_fd, timeout=10, bounds=bounds)
        seconds = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        os.close(read_fd)  # lets a writer still blocked on the pipe finish
        writer.join(timeout=10)
    return caught.value, seconds, peak


def test_answer_over_the_size_bound_is_refused_unread(pipe):
    body = b"[" + b"[]," * 13_300_000 + b"[]]"  # what a student's process once sent: 40 MB
    refused, seconds, peak = _read_measured(pipe, _header(len(body)) + body, ANSWER_BOUNDS)
    assert refused.detail == "over 32 MiB" and not refused.body_read
    assert seconds < 0.5 and peak < 2**16


def test_millions_of_empty_lists_under_the_size_bound_are_refused_before_parsing(pipe):
    body = b"[" + b"[]," * 5_000_000 + b"[]]"  # 15 MB: parsed, 320 MB of lists
    refused, seconds, peak = _read_measured(pipe, _header(len(body)) + body, ANSWER_BOUNDS)
    assert refused.detail == "over 1,000,000 values" and refused.body_read
    assert seconds < 1.0
    assert peak < len(body) + 2**20  # the body, read once into one buffer


def test_deep_nesting_under_the_bounds_is_refused_as_too_large(pipe):
    body = b"[" * 300_000 + b"]" * 300_000
    refused, seconds, peak = _read_measured(pipe, _header(len(body)) + body, ANSWER_BOUNDS)
    assert refused.detail == "nested too deeply" and refused.body_read
    assert seconds < 1.0 and peak < 4 * len(body)


def test_a_message_within_the_bounds_is_read_and_one_over_them_leaves_the_next_readable(pipe):
    read_fd, write_fd = pipe
    bounds = Bounds(size=100, values=3)
    for message in ([1, 2], [1, 2, 3], {"a": 1}):
        write_message(write_fd, message)
    assert read_message(read_fd, timeout=1, bounds=bounds) == [1, 2]  # 1 list and 1 comma: 3 values at most
    with pytest.raises(TooLarge, match="over 3 values"):
        read_message(read_fd, timeout=1, bounds=bounds)
    assert read_message(read_fd, timeout=1, bounds=bounds) == {"a": 1}

