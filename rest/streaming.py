"""Full-duplex HTTP streams for v3 produce: a request body read as it arrives, parsed into
concatenated JSON objects, and answers written back in input order while the body still streams.

The body is read on a thread of its own, so a client that sends a record and waits for its answer
gets it, and a client that streams without waiting is never held up by the broker's round trips.
"""

from __future__ import annotations

import codecs
import json
import re
import threading
from collections import deque
from typing import Iterator

import orjson

READ_SIZE = 64 * 1024
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_decoder = json.JSONDecoder()


class BodyTooLarge(Exception):
    """One JSON object of the stream is larger than allowed."""


def body_chunks(environ: dict) -> Iterator[bytes]:
    """The request body, piece by piece as the client sends it.

    Only a chunked body (what streaming clients send) is read as it comes, one HTTP chunk at a
    time: cheroot's ChunkedRFile.read(n) waits for n bytes and its readline() never returns, so its
    own chunk fetch is used (`_fetch`, which keeps its end-of-body state right for the connection's
    next request). A body with a Content-Length is read whole first: cheroot itself drains what is
    left of such a body when the response starts, so no other thread may read it then.
    """
    stream = environ["wsgi.input"]
    if not environ.get("wsgi.input_terminated"):
        yield stream.read(int(environ.get("CONTENT_LENGTH") or 0))
        return
    if hasattr(stream, "_fetch"):
        while True:
            if not stream.buffer:
                stream._fetch()
            if not stream.buffer:
                return
            data, stream.buffer = stream.buffer, b""
            yield data
    while data := stream.read(READ_SIZE):  # another server's chunked input
        yield data


def json_objects(chunks: Iterator[bytes], max_object_bytes: int) -> Iterator[object]:
    """Concatenated JSON objects (any whitespace between) from a stream of byte chunks.

    A syntax error ends the stream: raised as json.JSONDecodeError once no more input can complete
    the object (kafka-rest's parser cannot resynchronise either). An object still incomplete after
    `max_object_bytes` raises BodyTooLarge.
    """
    text = codecs.getincrementaldecoder("utf-8")()
    buffer, pos = "", 0
    for chunk in chunks:
        buffer = buffer[pos:] + text.decode(chunk)
        pos = 0
        while True:
            pos = _WHITESPACE.match(buffer, pos).end()
            if pos == len(buffer):
                break
            line_end = buffer.find("\n", pos)
            if line_end > 0:  # the common layout, one object per line: orjson, 4x the parser below
                try:
                    obj = orjson.loads(buffer[pos:line_end])
                except orjson.JSONDecodeError:
                    pass  # several objects on the line, one over several lines, or not JSON
                else:
                    pos = line_end + 1
                    yield obj
                    continue
            try:
                obj, pos = _decoder.raw_decode(buffer, pos)
            except json.JSONDecodeError:
                if len(buffer) - pos > max_object_bytes:
                    raise BodyTooLarge() from None
                break  # maybe incomplete: wait for more input
            yield obj
    buffer = buffer[pos:] + text.decode(b"", final=True)
    pos = _WHITESPACE.match(buffer).end()
    while pos < len(buffer):
        obj, pos = _decoder.raw_decode(buffer, pos)  # at the end a failure is a real syntax error
        yield obj
        pos = _WHITESPACE.match(buffer, pos).end()


class OrderedAnswers:
    """One answer per input record, filled in any order (delivery reports come from the producer's
    thread) and taken in input order."""

    def __init__(self):
        self._slots: deque[list] = deque()
        self._ready = threading.Condition()
        self._ended = False

    def reserve(self) -> list:
        """A slot for the next record's answer, filled later with `fill`."""
        slot = [None]
        with self._ready:
            self._slots.append(slot)
        return slot

    def add(self, answer: str) -> None:
        """The next record's answer, known at once (an error found before producing)."""
        with self._ready:
            self._slots.append([answer])
            self._ready.notify()

    def fill(self, slot: list, answer: str) -> None:
        with self._ready:
            slot[0] = answer
            if self._slots and self._slots[0] is slot:  # only the head can wake the writer
                self._ready.notify()

    def end(self) -> None:
        """No more records will be added."""
        with self._ready:
            self._ended = True
            self._ready.notify()

    def take(self, timeout_s: float) -> list[str] | None:
        """The answers ready at the head, in order, waiting up to `timeout_s` for the first one;
        [] when it is still pending after that, None once all were taken and no more will come."""
        with self._ready:
            if not (self._slots and self._slots[0][0] is not None):
                self._ready.wait_for(lambda: (self._slots and self._slots[0][0] is not None)
                                     or (self._ended and not self._slots), timeout_s)
            if not self._slots:
                return None if self._ended else []
            ready = []
            while self._slots and self._slots[0][0] is not None:
                ready.append(self._slots.popleft()[0])
            return ready

    def expire_head(self, answer: str) -> None:
        """Give the record at the head `answer` (it waited too long for its delivery report)."""
        with self._ready:
            if self._slots and self._slots[0][0] is None:
                self._slots[0][0] = answer
