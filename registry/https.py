"""The https listeners: cheroot (CherryPy's threaded production WSGI server) with the standard
library's TLS.

Plain http stays on waitress, which measured faster for plain HTTP (bench/registry_https.py);
waitress has no TLS, cheroot does. One change to cheroot's own TLS adapter: the handshake is not
done when a connection is accepted, on cheroot's single accepting thread (where one client that
connects and stays silent would hold up every other connection until its timeout), but on the
worker thread that reads the connection's first bytes, once there are bytes to read. A failed
handshake (plain HTTP or garbage on the port, no client certificate under REQUIRED) closes that
connection only.
"""

from __future__ import annotations

import logging
import ssl

from cheroot import server as cheroot_server
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

log = logging.getLogger("registry.https")


class _DeferredHandshakeAdapter(BuiltinSSLAdapter):
    """cheroot's builtin adapter around our own SSLContext, handshaking on the first read."""

    def __init__(self, context: ssl.SSLContext):  # noqa: super().__init__ would load files we have loaded
        self.certificate = self.private_key = self.certificate_chain = self.ciphers = None
        self.private_key_password = None
        self.context = context
        self._server_env = {}

    def wrap(self, sock):
        tls = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return tls, {"wsgi.url_scheme": "https", "HTTPS": "on"}


class _TlsConnection(cheroot_server.HTTPConnection):
    """Handshakes on its worker thread before its first request; a failed handshake is one log
    line naming the peer, and closes this connection only."""

    handshaken = False

    def communicate(self) -> bool:
        if not self.handshaken:
            try:
                self.socket.do_handshake()
            except (ssl.SSLEOFError, ConnectionError) as exc:  # hung up before the handshake: not an attack
                log.info("TLS peer %s:%s went away during the handshake: %s", self.remote_addr, self.remote_port, exc)
                return False
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                log.warning("TLS handshake with %s:%s failed: %s", self.remote_addr, self.remote_port,
                            getattr(exc, "reason", None) or exc)
                return False
            self.handshaken = True
        return super().communicate()


class _Server(wsgi.Server):
    """cheroot hands a new connection to a worker thread at once, where the first read waits for
    the client; here a new connection first waits in cheroot's selector (as kept-alive connections
    do) until it has bytes to read, so silent connections hold no worker thread and are closed
    when idle for `timeout`."""

    def process_conn(self, conn) -> None:
        if not getattr(conn, "schemabus_readable", False):
            conn.schemabus_readable = True
            self._connections.put(conn)
            return
        super().process_conn(conn)


def create_server(app, host: str, port: int, context: ssl.SSLContext, threads: int) -> wsgi.Server:
    server = _Server((host, port), app, numthreads=threads, request_queue_size=2048, timeout=60,
                         server_name="schemabus-registry", accepted_queue_timeout=1)
    server.ssl_adapter = _DeferredHandshakeAdapter(context)
    server.ConnectionClass = _TlsConnection
    # No body limit of cheroot's own (its 413 is plain text): BodyLimit answers a large Content-Length,
    # Flask's MAX_CONTENT_LENGTH a chunked body past the limit, both with Confluent's JSON error.
    server.error_log = _error_log
    return server


def _error_log(msg: str = "", level: int = 20, traceback: bool = False) -> None:
    """cheroot's error log: a failed handshake is one line naming the peer, never a traceback."""
    log.log(logging.DEBUG if level < logging.WARNING else logging.WARNING, "%s", msg, exc_info=traceback and
            level >= logging.ERROR)
