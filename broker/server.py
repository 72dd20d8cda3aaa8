"""The asyncio TCP server: Kafka framing, request dispatch, response framing.

Each connection is served one request at a time, in order, as Kafka does (clients
pipeline requests and match responses by correlation id and order). Anything malformed
closes that one connection with a log line; the broker and every other connection go on.

One request must not stall the others, however many array entries it carries (a
4 MB Metadata request holds two million topic names). So: a request may hold at most
`schemabus.request.max.array.entries` array elements (more closes the connection, like
a request over `socket.request.max.bytes`); one with more than LARGE_REQUEST_ENTRIES is
decoded and its response encoded in a worker thread, off the event loop; and handlers
walk request arrays with `ctx.paced(...)`, which hands the loop back every
PACE_ENTRIES entries.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import os
import ssl
import struct
import time
from dataclasses import dataclass, field

from broker.listeners import ANONYMOUS, Listener, distinguished_name
from broker.sasl.authenticator import SASL_HANDSHAKE, SaslSession, Unauthenticated
from broker.protocol import apis, fastpath
from broker.storage.log import FileSpan
from broker.protocol.codec import (
    DecodeError, LargeRequest, RequestHeader, decode, decode_request_header, encode, response_header,
)

log = logging.getLogger("schemabus.broker")

_SIZE = struct.Struct(">i")
UNSUPPORTED_VERSION = 35
# A client that opens a TLS listener's port and never completes the handshake is closed after this.
TLS_HANDSHAKE_TIMEOUT_S = 10.0
# A request with more array elements than this is decoded and answered off the loop
# (a few milliseconds of decoding on the loop at most).
LARGE_REQUEST_ENTRIES = 2000
# Handlers give the loop back to other connections after this many request entries.
PACE_ENTRIES = 500


# Receiving (see _Connection): frames up to SMALL_FRAME bytes are read many at a time into
# the connection's receive buffer and copied out; a bigger frame (a produce request) is read
# straight into a buffer of its own. Up to PREALLOCATE_FRAME bytes that buffer is allocated
# whole (from the FramePool) when the frame's size arrives; a bigger frame's buffer grows
# with the bytes actually received, so a lying size costs no memory.
RECEIVE_BUFFER = 256 * 1024
# A connection starts with a small receive buffer and gets RECEIVE_BUFFER once bytes of an
# unfinished small frame are waiting: an idle or request/response client (the common case
# with thousands of connections) costs 16 KiB, not 256.
INITIAL_RECEIVE_BUFFER = 16 * 1024
SMALL_FRAME = 64 * 1024
PREALLOCATE_FRAME = 2 * 1024 * 1024
# A connection stops reading while this many bytes of its requests wait to be served.
MAX_QUEUED_BYTES = 4 * 1024 * 1024


class ProtocolError(Exception):
    """The client broke the protocol; its connection is closed."""


def _unexported(buf: bytearray) -> bool:
    """True when no memoryview of `buf` is alive anywhere. A bytearray refuses to change
    size while one is, so shrinking it by a byte (and growing it back, within the memory
    it already has) is the test."""
    try:
        del buf[-1]
    except BufferError:
        return False
    buf.append(0)
    return True


class FramePool:
    """Buffers for large request frames, reused across requests and connections.

    A request buffer is handed out whole to the handlers as memoryviews (a produce request's
    record batches are patched and written to the log straight from it), so it goes back
    to the pool only once no view of it is left: nothing still reading it can see it
    overwritten. Reuse spares allocating, zero-filling and page-faulting a fresh megabyte
    per produce request."""

    def __init__(self, max_buffers: int = 8, max_buffer_bytes: int = PREALLOCATE_FRAME):
        self.max_buffers = max_buffers
        self.max_buffer_bytes = max_buffer_bytes
        self._free: list[bytearray] = []

    def take(self, size: int) -> bytearray:
        """A buffer of at least `size` bytes (contents undefined)."""
        best = None
        for i, buf in enumerate(self._free):
            if len(buf) >= size and (best is None or len(buf) < len(self._free[best])):
                best = i
        if best is not None:
            return self._free.pop(best)
        # Round up so that frames of similar sizes can share buffers.
        return bytearray(-(-size // SMALL_FRAME) * SMALL_FRAME)

    def give(self, buf: bytearray) -> None:
        if len(buf) > self.max_buffer_bytes or not _unexported(buf):
            return
        if len(self._free) >= self.max_buffers:
            self._free.sort(key=len)
            if len(self._free[0]) >= len(buf):
                return
            self._free.pop(0)
        self._free.append(buf)


class _Frame:
    """One request frame: `data` (bytes or a memoryview of `buffer`) and the pooled buffer
    behind it, if any."""

    __slots__ = ("data", "buffer")

    def __init__(self, data, buffer: bytearray | None):
        self.data = data
        self.buffer = buffer


class _Connection(asyncio.BufferedProtocol):
    """Kafka framing on one connection: 4-byte size, then the request.

    Bytes are received straight into request buffers (no stream buffer to copy through):
    small frames come out of the receive buffer as bytes, large ones are read into a
    FramePool buffer of their own and handed on as a memoryview of it. Also the writer
    side: write() and drain() with the transport's flow control."""

    def __init__(self, server: "KafkaServer"):
        self._server = server
        self.max_frame = server.max_request_bytes  # lowered while a SASL client authenticates
        self._pool = server.frame_pool
        self.transport: asyncio.Transport | None = None
        self._recv = bytearray(INITIAL_RECEIVE_BUFFER)
        self._start = self._end = 0  # unparsed bytes of _recv
        self._big: bytearray | None = None  # the large frame being received
        self._big_size = self._big_filled = 0
        self._header_only = False  # after a large frame, read just the next size field
        self._frames: collections.deque[_Frame] = collections.deque()
        self._queued_bytes = 0
        self._reading_paused = False
        self._waiter: asyncio.Future | None = None
        self._error: BaseException | None = None
        self._eof = False  # the client sends no more (half-close or gone)
        self._lost = False  # the connection is gone
        self._writing_paused = False
        self._drain_waiters: list[asyncio.Future] = []

    # -- asyncio callbacks ----------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport
        if self._server.listener.tls is not None:
            # Nothing may be read as Kafka frames before the TLS handshake takes the socket over.
            transport.pause_reading()
        self._server._connection_made(self)

    def connection_lost(self, exc) -> None:
        self._eof = self._lost = True
        self._wake()
        for fut in self._drain_waiters:
            if not fut.done():
                fut.set_exception(ConnectionResetError("Connection lost"))
        self._drain_waiters.clear()

    def eof_received(self) -> bool | None:
        self._eof = True
        self._wake()
        # A half-close: the requests already received are still answered. TLS has no half-close
        # (asyncio's TLS transport closes itself whatever this returns, and warns if it is True).
        return True if self._server.listener.tls is None else None

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        for fut in self._drain_waiters:
            if not fut.done():
                fut.set_result(None)
        self._drain_waiters.clear()

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._big is not None:
            if self._big_filled == len(self._big):  # a frame over PREALLOCATE_FRAME: grow
                grown = min(self._big_size, max(2 * len(self._big), self._big_filled + RECEIVE_BUFFER))
                self._big.extend(bytes(grown - len(self._big)))
            return memoryview(self._big)[self._big_filled:min(self._big_size, len(self._big))]
        if self._start == self._end:
            self._start = self._end = 0
        elif len(self._recv) - self._end < SMALL_FRAME + 4:
            pending = self._end - self._start
            if len(self._recv) < RECEIVE_BUFFER:
                grown = bytearray(RECEIVE_BUFFER)
                grown[:pending] = self._recv[self._start:self._end]
                self._recv = grown
            else:
                self._recv[:pending] = self._recv[self._start:self._end]
            self._start, self._end = 0, pending
        if self._header_only and self._start == self._end:
            return memoryview(self._recv)[:4]
        return memoryview(self._recv)[self._end:]

    def buffer_updated(self, nbytes: int) -> None:
        if self._big is not None:
            self._big_filled += nbytes
            if self._big_filled == self._big_size:
                big, self._big = self._big, None
                self._push(_Frame(memoryview(big)[:self._big_size], big))
            return
        self._end += nbytes
        self._parse()

    # -- framing ----------------------------------------------------------------

    def _parse(self) -> None:
        recv = self._recv
        while self._end - self._start >= 4:
            (size,) = _SIZE.unpack_from(recv, self._start)
            if size < 0 or size > self.max_frame:
                self._fail(ProtocolError(
                    f"request size {size} is outside 0..{self.max_frame} (socket.request.max.bytes, or "
                    "sasl.server.max.receive.size before authentication)"))
                return
            body = self._start + 4
            have = self._end - body
            if have >= size:
                self._header_only = False
                self._push(_Frame(bytes(recv[body:body + size]), None))
                self._start = body + size
                continue
            if size > SMALL_FRAME:
                self._begin_big(size, recv[body:self._end])
                self._start = self._end = 0
            return

    def _begin_big(self, size: int, head) -> None:
        if size <= PREALLOCATE_FRAME:
            self._big = self._pool.take(size)
        else:
            self._big = bytearray(max(PREALLOCATE_FRAME, len(head)))
        self._big[:len(head)] = head
        self._big_size = size
        self._big_filled = len(head)
        self._header_only = True

    def _push(self, frame: _Frame) -> None:
        self._frames.append(frame)
        self._queued_bytes += len(frame.data)
        if self._queued_bytes > MAX_QUEUED_BYTES and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def _fail(self, exc: BaseException) -> None:
        self._error = exc
        if not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def read_frame(self) -> _Frame | None:
        """The next request frame, None at the end of the stream; raises ProtocolError on a
        broken frame (after the frames before it)."""
        while not self._frames:
            if self._error is not None:
                raise self._error
            if self._eof:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        frame = self._frames.popleft()
        self._queued_bytes -= len(frame.data)
        if self._reading_paused and self._error is None and self._queued_bytes <= MAX_QUEUED_BYTES // 2:
            self._reading_paused = False
            self.transport.resume_reading()
        return frame

    def release(self, frame: _Frame) -> None:
        """The request is answered: its buffer may serve another one."""
        buf = frame.buffer
        frame.data = frame.buffer = None
        if buf is not None:
            self._pool.give(buf)

    # -- writing ----------------------------------------------------------------

    def write(self, data) -> None:
        self.transport.write(data)

    async def drain(self) -> None:
        if self._lost or self.transport.is_closing():
            await asyncio.sleep(0)  # let connection_lost run, as StreamWriter.drain does
            if self._lost:
                raise ConnectionResetError("Connection lost")
        if not self._writing_paused:
            return
        fut = asyncio.get_running_loop().create_future()
        self._drain_waiters.append(fut)
        await fut

    def close(self) -> None:
        self.transport.close()


@dataclass(slots=True)
class RequestContext:
    header: RequestHeader
    peer: str
    listener: Listener
    principal: str = ANONYMOUS
    entries_seen: int = field(default=0)

    def tick(self) -> bool:
        """Count one request entry; True when the handler should yield to the loop (the
        same pacing as paced(), for handlers that loop themselves)."""
        self.entries_seen += 1
        return self.entries_seen % PACE_ENTRIES == 0

    async def paced(self, items):
        """Iterate a request array, yielding to the event loop every PACE_ENTRIES entries
        of this request (all its arrays together), so a huge request is served in slices."""
        for item in items or ():
            self.entries_seen += 1
            if self.entries_seen % PACE_ENTRIES == 0:
                await asyncio.sleep(0)
            yield item

    @property
    def host(self) -> str:
        """The client's address without the port (what ACLs match against)."""
        return self.peer.rsplit(":", 1)[0]

    @property
    def api_version(self) -> int:
        return self.header.api_version

    @property
    def client_id(self) -> str:
        return self.header.client_id or ""


def _api_versions_fallback(header: RequestHeader) -> list:
    """ApiVersions asked at a version we do not speak: v0 layout, UNSUPPORTED_VERSION."""
    body = {
        "error_code": UNSUPPORTED_VERSION,
        "api_keys": [{"api_key": a.key, "min_version": a.min_version, "max_version": a.max_version}
                     for a in apis.REGISTRY.values()],
    }
    return [response_header(header.correlation_id, False)] + encode(apis.response_spec(apis.API_VERSIONS, 0), body)


def _is_sasl_handshake(frame) -> bool:
    """Whether a request frame is a SaslHandshake (its api key, the first two bytes)."""
    return len(frame) >= 2 and frame[0] == 0 and frame[1] == SASL_HANDSHAKE


def _encode_joined(spec, response: dict) -> bytes:
    return b"".join(encode(spec, response))


class KafkaServer:
    """The connections of one listener (plaintext, or TLS when the listener has a context)."""

    def __init__(self, broker, listener: Listener, max_request_bytes: int, max_array_entries: int):
        self.broker = broker
        self.listener = listener
        self.max_request_bytes = max_request_bytes
        self.max_array_entries = max_array_entries
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task] = set()
        # One thread for large requests: they queue behind each other, not ahead of the loop.
        self._large_requests = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="large-request")
        self.frame_pool = FramePool()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), self.listener.host, self.listener.port)
        self.listener.port = self._server.sockets[0].getsockname()[1]

    def _connection_made(self, conn: _Connection) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(conn))
        self._connections.add(task)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        self._large_requests.shutdown(wait=False, cancel_futures=True)

    async def _serve(self, conn: _Connection) -> None:
        task = asyncio.current_task()
        address, port = conn.transport.get_extra_info("peername")[:2]
        peer = f"{address}:{port}"
        try:
            throttle_ms = self.broker.quotas.connection_throttle(address)
            if throttle_ms:
                log.debug("closing connection from %s in %d ms unserved: its ip is over its "
                          "connection_creation_rate", peer, throttle_ms)
                await asyncio.sleep(throttle_ms / 1000)
                return
            principal = ANONYMOUS
            if self.listener.tls is not None:
                principal = await self._handshake(conn, peer)
                if principal is None:
                    return
            session = None
            if self.listener.sasl is not None:
                session = SaslSession(self, conn, peer)
                principal = await session.authenticate()
            while True:
                frame = await conn.read_frame()
                if frame is None:
                    break  # the client closed its side
                if session is not None and _is_sasl_handshake(frame.data):
                    principal = await session.authenticate(frame)  # KIP-368 re-authentication
                    continue
                if session is not None and session.expired():
                    log.info("closing connection from %s on listener %s: its SASL session expired without "
                             "re-authentication", peer, self.listener.name)
                    break
                await self.answer(conn, frame.data, peer, principal)
                conn.release(frame)
        except (ConnectionError, Unauthenticated):
            pass  # the client went away, or failed to authenticate (logged)
        except (ProtocolError, DecodeError) as exc:
            log.warning("closing connection from %s: %s", peer, exc)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("closing connection from %s after an internal error", peer)
        finally:
            self._connections.discard(task)
            conn.close()

    async def _handshake(self, conn: _Connection, peer: str) -> str | None:
        """TLS on the connection; the client's principal, or None (logged) when it failed."""
        try:
            conn.transport = await asyncio.get_running_loop().start_tls(
                conn.transport, conn, self.listener.tls, server_side=True,
                ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_S)
        except (ssl.SSLError, OSError, asyncio.TimeoutError) as exc:
            reason = getattr(exc, "reason", None) or exc.__class__.__name__
            # A peer that hangs up before any TLS (a port probe) is routine; a failed handshake is not.
            level = logging.INFO if isinstance(exc, ConnectionError) else logging.WARNING
            log.log(level, "closing connection from %s on listener %s: TLS handshake failed: %s",
                    peer, self.listener.name, reason)
            return None
        cert = conn.transport.get_extra_info("peercert")
        if not cert:
            return ANONYMOUS
        try:
            return self.listener.principal_rules.principal(distinguished_name(cert))
        except ValueError as exc:
            log.warning("closing connection from %s on listener %s: %s", peer, self.listener.name, exc)
            return None

    async def answer(self, conn: _Connection, frame, peer: str, principal: str | None) -> None:
        """Serve one request frame and send its response (if it has one). A client over its
        quota is not read from again until its throttle time has passed (KIP-219)."""
        start = time.perf_counter()
        chunks, throttle_ms = await self._dispatch(frame, peer, principal or ANONYMOUS)
        if chunks is not None:
            await self._send(conn, chunks)
        # Counted once answered, as Kafka's RequestsPerSec/TotalTimeMs (the api key: 2 first bytes).
        self.broker.metrics.answered((frame[0] << 8) | frame[1], time.perf_counter() - start)
        if throttle_ms:
            await asyncio.sleep(throttle_ms / 1000)

    async def respond(self, conn: _Connection, header: RequestHeader, response: dict) -> None:
        """Send `response` to the request with `header` (the SASL exchange answers itself)."""
        flexible = header.api_key != apis.API_VERSIONS and apis.response_is_flexible(header.api_key, header.api_version)
        body = encode(apis.response_spec(header.api_key, header.api_version), response)
        await self._send(conn, [response_header(header.correlation_id, flexible)] + body)

    async def send_raw(self, conn: _Connection, data: bytes) -> None:
        """A bare size-prefixed frame: a SASL token after SaslHandshake v0."""
        await self._send(conn, [data])

    async def _send(self, writer: _Connection, chunks: list) -> None:
        """Write one response; FileSpan chunks (fetched record data) go out with sendfile."""
        pending = [_SIZE.pack(sum(len(c) for c in chunks))]
        try:
            for chunk in chunks:
                if isinstance(chunk, FileSpan) and self.listener.tls is not None:
                    # sendfile cannot encrypt: the records are read and written through TLS, each
                    # span on its own (joining them into one response-sized bytes would copy it all
                    # once more); the small pieces before it go out together.
                    writer.write(b"".join(pending))
                    pending = []
                    writer.write(os.pread(chunk.file.fileno(), chunk.size, chunk.position))
                elif isinstance(chunk, FileSpan):
                    writer.write(b"".join(pending))
                    pending = []
                    await writer.drain()
                    with chunk.file:
                        await asyncio.get_running_loop().sendfile(
                            writer.transport, chunk.file, chunk.position, chunk.size)
                else:
                    pending.append(chunk)
            writer.write(b"".join(pending))
            await writer.drain()
        finally:
            for chunk in chunks:
                if isinstance(chunk, FileSpan):
                    chunk.file.close()

    async def _dispatch(self, frame, peer: str, principal: str = ANONYMOUS) -> tuple[list | None, int]:
        """(the response's chunks or None, the throttle time in ms it carries)."""
        header, pos = decode_request_header(frame, apis.request_is_flexible)
        key, version = header.api_key, header.api_version
        if not apis.supported(key, version):
            if key == apis.API_VERSIONS:
                return _api_versions_fallback(header), 0
            raise ProtocolError(f"unsupported API key {key} version {version}")
        api = apis.REGISTRY[key]
        large = False
        request = None
        if key == fastpath.PRODUCE:
            request = fastpath.decode_produce_request(frame, pos, version, self.max_array_entries)
        if request is None:
            request_spec = apis.request_spec(key, version)
            try:
                try:
                    request, _ = decode(request_spec, frame, pos, self.max_array_entries, LARGE_REQUEST_ENTRIES)
                except LargeRequest:
                    large = True
                    request, _ = await self._off_loop(decode, request_spec, frame, pos, self.max_array_entries)
            except DecodeError as exc:
                raise ProtocolError(f"malformed {api.name} v{version} request: {exc}") from None
        started = time.perf_counter()
        response = await api.fn(self.broker, RequestContext(header, peer, self.listener, principal), request)
        throttle_ms = 0
        quotas = self.broker.quotas
        if quotas.active:
            response, throttle_ms = quotas.throttle(key, principal, header.client_id or "", len(frame), response,
                                                    time.perf_counter() - started)
        if response is None:
            return None, throttle_ms
        # ApiVersions' response header is always v0, whatever the request version.
        flexible_header = key != apis.API_VERSIONS and apis.response_is_flexible(key, version)
        body = None
        if key == fastpath.PRODUCE:
            body = fastpath.encode_produce_response(version, response)
        if body is None:
            spec = apis.response_spec(key, version)
            if large:  # encoded and joined off the loop: a response of a million small chunks
                body = [await self._off_loop(_encode_joined, spec, response)]
            else:
                body = encode(spec, response)
        return [response_header(header.correlation_id, flexible_header)] + body, throttle_ms

    async def _off_loop(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._large_requests, fn, *args)
