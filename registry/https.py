"""The registry's https listeners: cheroot (CherryPy's threaded production WSGI server) with the
standard library's TLS, as http_security/cheroot_tls.py serves it (shared with the REST Proxy).

Plain http stays on waitress, which measured faster for plain HTTP (bench/registry_https.py);
waitress has no TLS, cheroot does. The TLS handshake is done on the worker thread that reads a
connection's first bytes, not on cheroot's accepting thread; a failed handshake (plain HTTP or
garbage on the port, no client certificate under REQUIRED) closes that connection only.
"""

from __future__ import annotations

import logging
import ssl

from cheroot import wsgi

from http_security import cheroot_tls

log = logging.getLogger("registry.https")


def create_server(app, host: str, port: int, context: ssl.SSLContext, threads: int) -> wsgi.Server:
    # No body limit of cheroot's own (its 413 is plain text): BodyLimit answers a large Content-Length,
    # Flask's MAX_CONTENT_LENGTH a chunked body past the limit, both with Confluent's JSON error.
    return cheroot_tls.create_server(app, host, port, context, threads, server_name="schemabus-registry", log=log,
                                     request_queue_size=2048, timeout=60, accepted_queue_timeout=1)
