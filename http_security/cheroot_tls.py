"""An https listener on cheroot (CherryPy's threaded production WSGI server) with the standard
library's TLS, for the registry and the REST Proxy.

One change to cheroot's own TLS adapter: the handshake is not done when a connection is accepted,
on cheroot's single accepting thread (where one client that connects and stays silent would hold
up every other connection until its timeout), but on the worker thread that reads the
connection's first bytes, once there are bytes to read. A failed handshake (plain HTTP or garbage
on the port, no client certificate under REQUIRED) closes that connection only, and is one log
line naming the peer.
"""

from __future__ import annotations

import logging
import ssl

from cheroot import server as cheroot_server
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter


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
    line naming the peer (on the server's `tls_log`), and closes this connection only."""

    handshaken = False

    def communicate(self) -> bool:
        if not self.handshaken:
            log = getattr(self.server, "tls_log", None) or logging.getLogger("http_security.tls")
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

    tls_log: logging.Logger | None = None

    def process_conn(self, conn) -> None:
        if not getattr(conn, "schemabus_readable", False):
            conn.schemabus_readable = True
            self._connections.put(conn)
            return
        super().process_conn(conn)


def create_server(app, host: str, port: int, context: ssl.SSLContext, threads: int, *, server_name: str,
                  log: logging.Logger, **options) -> wsgi.Server:
    """The https server (not yet bound: `prepare()` binds). `options`: cheroot's own
    (request_queue_size, timeout, accepted_queue_timeout, ...)."""
    server = _Server((host, port), app, numthreads=threads, server_name=server_name, **options)
    server.ssl_adapter = _DeferredHandshakeAdapter(context)
    server.ConnectionClass = _TlsConnection
    server.tls_log = log

    def error_log(msg: str = "", level: int = 20, traceback: bool = False) -> None:
        """cheroot's error log: a failed handshake is one line naming the peer, never a traceback."""
        log.log(logging.DEBUG if level < logging.WARNING else logging.WARNING, "%s", msg,
                exc_info=traceback and level >= logging.ERROR)

    server.error_log = error_log
    return server
