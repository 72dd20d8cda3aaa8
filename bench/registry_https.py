"""The registry's HTTP servers: waitress against cheroot for plain HTTP, and the registry's own
http (waitress) and https (cheroot + ssl) listeners side by side.

    python bench/registry_https.py [--duration 6] [--clients 4]

Why: waitress has no TLS, so https listeners are served by cheroot; plain http stays on whichever
of the two is not slower. Clients are processes with one keep-alive connection each (http.client),
on the same machine, so the numbers are ratios, not capacities. Not a test: nothing asserts timings.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import BrokerProcess, free_port  # noqa: E402
from tests.registry.conftest import RegistryProcess  # noqa: E402
from tests.tls import CertificateAuthority  # noqa: E402

HELLO_SERVER = """
import sys
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
    return [b"{}"]
port = int(sys.argv[2])
if sys.argv[1] == "waitress":
    import waitress
    waitress.serve(app, host="127.0.0.1", port=port, threads=8, asyncore_use_poll=True, _quiet=True)
else:
    from cheroot import wsgi
    wsgi.Server(("127.0.0.1", port), app, numthreads=8, request_queue_size=2048).start()
"""


def _client(port: int, path: str, duration: float, cafile: str | None, out) -> None:
    if cafile:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ssl.create_default_context(cafile=cafile))
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port)
    done, deadline = 0, time.monotonic() + duration
    while time.monotonic() < deadline:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
        done += 1
    out.put(done)


def load(port: int, path: str, duration: float, clients: int, cafile: str | None = None) -> float:
    """Requests per second from `clients` keep-alive client processes."""
    out = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_client, args=(port, path, duration, cafile, out)) for _ in range(clients)]
    for proc in procs:
        proc.start()
    total = sum(out.get() for _ in procs)
    for proc in procs:
        proc.join()
    return total / duration


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/")
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def hello_servers(duration: float, clients: int) -> dict[str, float]:
    """The same WSGI hello-world on waitress and on cheroot, alternating, best of two each."""
    results: dict[str, list[float]] = {"waitress": [], "cheroot": []}
    for _ in range(2):
        for name in results:
            port = free_port()
            proc = subprocess.Popen([sys.executable, "-c", HELLO_SERVER, name, str(port)])
            try:
                wait_port(port)
                results[name].append(load(port, "/", duration, clients))
            finally:
                proc.terminate()
                proc.wait()
    return {name: max(values) for name, values in results.items()}


def registry_listeners(duration: float, clients: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="bench-registry-https-"))
    ca = CertificateAuthority(work / "ca")
    server = ca.issue("registry", server=True)
    broker = BrokerProcess(work / "broker", {"group.initial.rebalance.delay.ms": "0"}).start()
    https_port, http_port = free_port(), free_port()
    registry = RegistryProcess(broker.bootstrap, work, port=http_port, extra_args=[
        "--config", f"listeners=http://127.0.0.1:{http_port},https://127.0.0.1:{https_port}",
        "--config", f"ssl.keystore.location={server.keystore}"])
    try:
        registry.start()
        schema_id = registry.register("bench-value", {"type": "string"}).json()["id"]
        path = f"/schemas/ids/{schema_id}"
        return {"http (waitress)": load(http_port, path, duration, clients),
                "https (cheroot)": load(https_port, path, duration, clients, str(ca.ca_file))}
    finally:
        registry.stop()
        broker.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=6)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    hello = hello_servers(args.duration, args.clients)
    print(f"WSGI hello-world, plain HTTP, {args.clients} keep-alive clients:")
    for name, rate in hello.items():
        print(f"  {name:10s} {rate:8.0f} req/s")
    print(f"  cheroot/waitress: {hello['cheroot'] / hello['waitress']:.2f}")
    listeners = registry_listeners(args.duration, args.clients)
    print("registry GET /schemas/ids/{id} (read cache on):")
    for name, rate in listeners.items():
        print(f"  {name:16s} {rate:8.0f} req/s")
    print(f"  https/http: {listeners['https (cheroot)'] / listeners['http (waitress)']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
