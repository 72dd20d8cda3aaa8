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
import concurrent.futures
import logging
import struct
from dataclasses import dataclass, field

from broker.protocol import apis
from broker.storage.log import FileSpan
from broker.protocol.codec import (
    DecodeError, LargeRequest, RequestHeader, decode, decode_request_header, encode, response_header,
)

log = logging.getLogger("schemabus.broker")

_SIZE = struct.Struct(">i")
UNSUPPORTED_VERSION = 35
# A request with more array elements than this is decoded and answered off the loop
# (a few milliseconds of decoding on the loop at most).
LARGE_REQUEST_ENTRIES = 2000
# Handlers give the loop back to other connections after this many request entries.
PACE_ENTRIES = 500


class ProtocolError(Exception):
    """The client broke the protocol; its connection is closed."""


@dataclass(slots=True)
class RequestContext:
    header: RequestHeader
    peer: str
    entries_seen: int = field(default=0)

    async def paced(self, items):
        """Iterate a request array, yielding to the event loop every PACE_ENTRIES entries
        of this request (all its arrays together), so a huge request is served in slices."""
        for item in items or ():
            self.entries_seen += 1
            if self.entries_seen % PACE_ENTRIES == 0:
                await asyncio.sleep(0)
            yield item

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


def _encode_joined(spec, response: dict) -> bytes:
    return b"".join(encode(spec, response))


class KafkaServer:
    def __init__(self, broker, host: str, port: int, max_request_bytes: int, max_array_entries: int):
        self.broker = broker
        self.host = host
        self.port = port
        self.max_request_bytes = max_request_bytes
        self.max_array_entries = max_array_entries
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task] = set()
        # One thread for large requests: they queue behind each other, not ahead of the loop.
        self._large_requests = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="large-request")

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=1 << 20)
        self.port = self._server.sockets[0].getsockname()[1]

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

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        peer = "%s:%s" % writer.get_extra_info("peername")[:2]
        try:
            while True:
                (size,) = _SIZE.unpack(await reader.readexactly(4))
                if size < 0 or size > self.max_request_bytes:
                    raise ProtocolError(
                        f"request size {size} is outside 0..{self.max_request_bytes} (socket.request.max.bytes)")
                frame = await reader.readexactly(size)
                chunks = await self._dispatch(frame, peer)
                if chunks is not None:
                    await self._send(writer, chunks)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        except (ProtocolError, DecodeError) as exc:
            log.warning("closing connection from %s: %s", peer, exc)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("closing connection from %s after an internal error", peer)
        finally:
            self._connections.discard(task)
            writer.close()

    async def _send(self, writer: asyncio.StreamWriter, chunks: list) -> None:
        """Write one response; FileSpan chunks (fetched record data) go out with sendfile."""
        pending = [_SIZE.pack(sum(len(c) for c in chunks))]
        try:
            for chunk in chunks:
                if isinstance(chunk, FileSpan):
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

    async def _dispatch(self, frame: bytes, peer: str) -> list | None:
        header, pos = decode_request_header(frame, apis.request_is_flexible)
        key, version = header.api_key, header.api_version
        if not apis.supported(key, version):
            if key == apis.API_VERSIONS:
                return _api_versions_fallback(header)
            raise ProtocolError(f"unsupported API key {key} version {version}")
        api = apis.REGISTRY[key]
        request_spec = apis.request_spec(key, version)
        large = False
        try:
            try:
                request, _ = decode(request_spec, frame, pos, self.max_array_entries, LARGE_REQUEST_ENTRIES)
            except LargeRequest:
                large = True
                request, _ = await self._off_loop(decode, request_spec, frame, pos, self.max_array_entries)
        except DecodeError as exc:
            raise ProtocolError(f"malformed {api.name} v{version} request: {exc}") from None
        response = await api.fn(self.broker, RequestContext(header, peer), request)
        if response is None:
            return None
        spec = apis.response_spec(key, version)
        # ApiVersions' response header is always v0, whatever the request version.
        flexible_header = spec.flexible and key != apis.API_VERSIONS
        if large:  # encoded and joined off the loop: a response of a million small chunks
            body = [await self._off_loop(_encode_joined, spec, response)]
        else:
            body = encode(spec, response)
        return [response_header(header.correlation_id, flexible_header)] + body

    async def _off_loop(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._large_requests, fn, *args)
