"""A minimal raw-socket Kafka client for tests that need to send exact (or broken) bytes."""

from __future__ import annotations

import socket
import struct

from broker.protocol.codec import decode, encode, message_spec


def request_frame(api_key: int, version: int, body: dict, correlation_id: int = 1,
                  client_id: str = "raw-test") -> bytes:
    spec = message_spec(api_key, version, "request")
    cid = client_id.encode()
    header = struct.pack(">hhih", api_key, version, correlation_id, len(cid)) + cid
    if spec.flexible:
        header += b"\x00"
    payload = header + b"".join(encode(spec, body))
    return struct.pack(">i", len(payload)) + payload


def read_frame(sock: socket.socket) -> bytes:
    size = struct.unpack(">i", _read_exact(sock, 4))[0]
    return _read_exact(sock, size)


def _read_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return bytes(buf)


class RawClient:
    def __init__(self, bootstrap: str, timeout: float = 10.0, client_id: str = "raw-test"):
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.client_id = client_id
        self._cid = 0

    def call(self, api_key: int, version: int, body: dict) -> dict:
        self._cid += 1
        self.sock.sendall(request_frame(api_key, version, body, self._cid, self.client_id))
        frame = read_frame(self.sock)
        (cid,) = struct.unpack_from(">i", frame)
        assert cid == self._cid, f"correlation id {cid} != {self._cid}"
        spec = message_spec(api_key, version, "response")
        # ApiVersions' response header is v0; other flexible responses have a tag byte.
        pos = 4 + (1 if spec.flexible and api_key != 18 else 0)
        msg, _ = decode(spec, frame, pos)
        return msg

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True if the broker closes this connection (reads EOF) within `timeout`."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self) -> None:
        self.sock.close()
