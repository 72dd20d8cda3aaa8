"""Request amplification: for every API the broker advertises whose request has arrays, a
~4 MB request whose array holds as many minimal entries (empty names, zero ids) as fit,
sent while another connection measures ApiVersions/Metadata round trips.

The requirement (issue 13): the request is answered, or its connection closed, without
stalling the others (their p99 stays under 100 ms while such requests arrive), and the
broker's memory grows by at most a small multiple (8x) of the request size.

Our broker caps the array elements of one request (schemabus.request.max.array.entries), so
a 4 MB request of minimal entries is refused at once; each case therefore also sends the
biggest request it accepts, exactly at the cap, which it must answer under the same
latency requirement and within the memory the 4 MB request is allowed (8 x 4 MiB).
Each request is sent REPEATS times in a row, the probe measuring throughout.

The APIs, versions and arrays are not listed here: they come from the broker's ApiVersions
answer and the request specs (tests/faults/specgen.py). The bounded (CI) mode sends one
request per API, along the array path that packs the most entries; the long mode
(SCHEMABUS_FAULTS_LONG=1) every array path, nested ones included. The same requests go to
Apache Kafka (long mode) for comparison.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

import psutil
import pytest

from tests.conftest import BrokerProcess, unique_topic
from tests.faults.helpers import LONG, MiB, LatencyProbe, create_topic, read_to_end, record_figures, rss, scaled
from tests.faults.specgen import advertised, amplified_request, array_paths, known_versions, request_spec

REQUEST_BYTES = 4 * MiB
P99_LIMIT_MS = 100.0
RSS_GROWTH_FACTOR = 8  # "a small multiple of the request size"
# A smaller request the broker accepts (the entry cap) may not cost more memory than the
# ~4 MB one is allowed to.
RSS_GROWTH_FLOOR = RSS_GROWTH_FACTOR * REQUEST_BYTES
REPEATS = scaled(2, 10)  # requests sent one after the other, the probe measuring throughout
# How long one big request may go unanswered: past this it is stalled, whatever the probe says.
ANSWER_TIMEOUT = 20.0
# In the bounded mode a case stops early once another connection has waited this long: the
# p99 requirement is then broken beyond doubt, and waiting longer would only cost CI time.
GIVE_UP_STALL = scaled(1.5, None)


def _broker_apis() -> dict[int, tuple[int, int]]:
    """What our broker advertises in ApiVersions: exactly its registered handlers."""
    import broker.broker  # noqa: F401 - importing it registers every handler
    from broker.protocol import apis

    return {a.key: (a.min_version, a.max_version) for a in apis.REGISTRY.values()}


def _entry_limit() -> int | None:
    """Our broker's cap on array elements per request, if it has one: a request right at
    the cap is the biggest it accepts, so the one that must still not stall anybody."""
    from broker.config import BrokerConfig

    try:
        return int(BrokerConfig()["schemabus.request.max.array.entries"])
    except (KeyError, ValueError):
        return None


def _cases(versions: dict[int, tuple[int, int]], every_path: bool) -> list[tuple[int, int, tuple[str, ...]]]:
    cases = []
    for key, vs in sorted(known_versions(versions).items()):
        version = max(vs)
        paths = array_paths(request_spec(key, version))
        if not paths:
            continue
        if not every_path:
            paths = [max(paths, key=lambda p: (amplified_request(key, version, p, REQUEST_BYTES)[1], -len(p)))]
        cases += [(key, version, p) for p in paths]
    return cases


def _case_id(case) -> str:
    key, version, path = case
    spec = request_spec(key, version)
    return f"{spec.name.removesuffix('Request')}-v{version}-{'.'.join(path)}"


def _frames(case) -> list[tuple[str, bytes, int]]:
    """(variant, frame, entries): ~4 MB of minimal entries, and (with an entry cap) exactly
    as many entries as the cap lets through."""
    key, version, path = case
    frame, entries = amplified_request(key, version, path, REQUEST_BYTES, correlation_id=7)
    out = [("4MiB", frame, entries)]
    limit = _entry_limit()
    if limit is not None:
        at_cap = limit - (len(path) - 1)  # the arrays on the way hold one element each
        frame, entries = amplified_request(key, version, path, REQUEST_BYTES, correlation_id=7, count=at_cap)
        out.append((f"{limit}-entries", frame, entries))
    return out


OUR_APIS = _broker_apis()
CASES = _cases(OUR_APIS, every_path=LONG)


def _read_frame(sock: socket.socket, deadline: float) -> bytes | None:
    """One response frame, or None if the broker closed the connection first."""
    buf = bytearray()
    need = 4
    size = None
    while len(buf) < need:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(min(1 << 20, need - len(buf)))
        if not chunk:
            return None
        buf += chunk
        if size is None and len(buf) >= 4:
            size = struct.unpack_from(">i", buf)[0]
            need = 4 + size
    return bytes(buf)


def _one_request(bootstrap: str, frame: bytes) -> dict:
    """Send `frame` on a new connection; how it ended."""
    host, port = bootstrap.rsplit(":", 1)
    started = time.monotonic()
    deadline = started + ANSWER_TIMEOUT
    result = {"outcome": "stalled", "response_bytes": 0, "error": None}
    try:
        with socket.create_connection((host, int(port)), timeout=ANSWER_TIMEOUT) as sock:
            sock.sendall(frame)
            response = _read_frame(sock, deadline)
            if response is None:
                result["outcome"] = "closed"
            else:
                result["outcome"] = "answered"
                result["response_bytes"] = len(response)
                (cid,) = struct.unpack_from(">i", response, 4)
                if cid != 7:
                    result["error"] = f"correlation id {cid} != 7"
    except (ConnectionResetError, BrokenPipeError):
        result["outcome"] = "closed"
    except (socket.timeout, TimeoutError):
        result["outcome"] = "stalled"
    except OSError as exc:
        result["outcome"] = "closed"
        result["error"] = repr(exc)
    result["seconds"] = time.monotonic() - started
    return result


def send_amplified(bootstrap: str, pid: int, frame: bytes, repeats: int = REPEATS) -> dict:
    """Send `frame` `repeats` times, one after the other on new connections, while a probe
    measures another connection and a sampler watches the broker's RSS; the figures."""
    base_rss = rss(pid)
    peak = [base_rss]
    stop_sampling = threading.Event()

    def sample():
        proc = psutil.Process(pid)
        while not stop_sampling.wait(0.02):
            try:
                peak[0] = max(peak[0], proc.memory_info().rss)
            except psutil.Error:
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    results: list[dict] = []
    done = threading.Event()

    def talk():
        try:
            for _ in range(repeats):
                results.append(_one_request(bootstrap, frame))
                if results[-1]["outcome"] == "stalled":
                    break
        finally:
            done.set()

    gave_up = False
    with LatencyProbe(bootstrap, interval=0.01) as probe:
        time.sleep(0.2)  # the probe's baseline
        started = time.monotonic()
        threading.Thread(target=talk, daemon=True).start()
        while not done.wait(0.02):
            if GIVE_UP_STALL is not None and probe.stalled_for() > GIVE_UP_STALL:
                gave_up = True
                break
        if not gave_up:
            time.sleep(0.2)  # the tail: the others catch up
        elapsed = time.monotonic() - started
    stop_sampling.set()
    sampler.join(2)
    outcomes = sorted({r["outcome"] for r in results}) or ["pending"]
    if gave_up:
        outcomes.append("gave-up")  # another connection waited > GIVE_UP_STALL s
    errors = [r["error"] for r in results if r["error"]]
    return {"request_bytes": len(frame), "sent": len(results), "outcome": "+".join(outcomes),
            "error": errors[0] if errors else None,
            "response_bytes": max((r["response_bytes"] for r in results), default=0),
            "max_seconds": round(max((r["seconds"] for r in results), default=elapsed), 2),
            **probe.summary(),
            "rss_growth_mib": round((peak[0] - base_rss) / MiB, 1),
            "rss_growth_factor": round((peak[0] - base_rss) / len(frame), 2)}


def _problems(figures: dict) -> list[str]:
    problems = []
    if figures["outcome"] not in ("answered", "closed") or figures["error"]:
        problems.append(f"{figures['outcome']} after {figures['max_seconds']} s ({figures['error'] or 'no answer'})")
    if figures["p99_ms"] >= P99_LIMIT_MS or "gave-up" in figures["outcome"]:
        problems.append(f"other connection's p99 {figures['p99_ms']} ms (max {figures['max_ms']} ms), "
                        f"limit {P99_LIMIT_MS} ms")
    if figures["probe_errors"]:
        problems.append(f"{figures['probe_errors']} failed calls on the other connection")
    limit = max(RSS_GROWTH_FACTOR * figures["request_bytes"], RSS_GROWTH_FLOOR)
    if figures["rss_growth_mib"] * MiB > limit:
        problems.append(f"RSS grew {figures['rss_growth_mib']} MiB = {figures['rss_growth_factor']}x the request, "
                        f"limit {round(limit / MiB, 1)} MiB ({RSS_GROWTH_FACTOR}x the request, at least "
                        f"{RSS_GROWTH_FACTOR}x {REQUEST_BYTES // MiB} MiB)")
    return problems


def run_case(target: str, bootstrap: str, pid: int, case, alive=lambda: True) -> list[str]:
    """Both variants of one case; the problems found, each prefixed with what was sent."""
    failures = []
    for variant, frame, entries in _frames(case):
        name = f"{_case_id(case)}[{variant}]"
        figures = send_amplified(bootstrap, pid, frame)
        record_figures("amplification", target, case=name, entries=entries, **figures)
        if alive() and _problems(figures) and "gave-up" not in figures["outcome"]:
            # The probe takes a few dozen samples, so its p99 is close to its maximum and one
            # scheduling hiccup of a busy 2-core machine can break it: a problem must show
            # again on a second measurement to count (both are recorded).
            figures = send_amplified(bootstrap, pid, frame)
            record_figures("amplification", target, case=name + " (again)", entries=entries, **figures)
        if not alive():
            failures.append(f"{name}: the broker died")
            break
        failures += [f"{name}: {p} [{figures}]" for p in _problems(figures)]
        if "gave-up" in figures["outcome"]:
            break  # the broker is still chewing: the next variant would measure that
    return failures


@pytest.fixture
def fresh_broker(tmp_path):
    """A broker per case: each measurement starts from the same memory and an idle loop,
    and a case that stalls the broker does not spill into the next."""
    broker = BrokerProcess(tmp_path / "data").start()
    yield broker
    if broker.alive():
        broker.proc.kill()  # it may still be busy with the request: no graceful wait
        broker.proc.wait()
        broker.proc = None


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_amplified_request_schemabus(fresh_broker, case):
    assert advertised(fresh_broker.bootstrap) == OUR_APIS
    failures = run_case("schemabus", fresh_broker.bootstrap, fresh_broker.proc.pid, case, fresh_broker.alive)
    log_text = fresh_broker.log_text()
    assert "Traceback" not in log_text, f"traceback in the broker log:\n{log_text[-3000:]}"
    assert not failures, "\n".join(failures)


@pytest.mark.slow
@pytest.mark.skipif(not LONG, reason="long mode only (SCHEMABUS_FAULTS_LONG=1): a Kafka of its own, "
                                     "restarted after each request it is still chewing on")
def test_amplified_requests_apache_kafka(private_kafka):
    """The same requests (same APIs, Kafka's newest versions) against Apache Kafka, for the
    figures next to ours. Kafka's misses are recorded (`problems` in its figures), not
    failed on: the requirement is ours. Kafka must stay up and serving, though."""
    theirs = {k: v for k, v in advertised(private_kafka.bootstrap).items() if k in OUR_APIS}
    missed = []
    for case in _cases(theirs, every_path=LONG):
        problems = run_case("apache-kafka", private_kafka.bootstrap, private_kafka.pid, case, private_kafka.alive)
        assert private_kafka.alive(), f"{_case_id(case)}: Apache Kafka died"
        if problems:
            missed += problems
            # It may be busy with the request for minutes (e.g. duplicate entries in an
            # error response are quadratic there): a clean slate for the next case.
            private_kafka.kill()
            private_kafka.start()
    record_figures("amplification", "apache-kafka", case="summary", problems=len(missed),
                   examples=[m.split(" [")[0] for m in missed][:20])


# -- amplification by a count ------------------------------------------------------------------
# No array at all: one number asks for the work. Kafka refuses more than 10,000 partitions in
# one request (POLICY_VIOLATION, "Excessively large number of partitions per request").

PARTITION_COUNT = 100_000


def _count_requests(existing: str) -> dict[str, bytes]:
    from tests.kafka_wire import request_frame

    return {
        "CreateTopics-num_partitions": request_frame(19, 7, {
            "topics": [{"name": unique_topic("many-partitions"), "num_partitions": PARTITION_COUNT,
                        "replication_factor": 1, "assignments": [], "configs": []}],
            "timeout": 30_000, "validate_only": False}, correlation_id=7),
        "CreatePartitions-count": request_frame(37, 3, {
            "topics": [{"name": existing, "count": PARTITION_COUNT, "assignments": None}],
            "timeout": 30_000, "validate_only": False}, correlation_id=7),
    }


def _still_serves(bootstrap: str) -> None:
    """A new topic, a record in, the record out."""
    from confluent_kafka import Producer

    topic = unique_topic("after")
    create_topic(bootstrap, topic, 1)
    p = Producer({"bootstrap.servers": bootstrap})
    p.produce(topic, b"still serving")
    assert p.flush(30) == 0
    got, errors = read_to_end(bootstrap, topic, 1, timeout=30)
    assert not errors and [v for _, _, v in got[0]] == [b"still serving"], (got, errors)


def run_count_case(target: str, bootstrap: str, pid: int, name: str) -> list[str]:
    existing = unique_topic("grow")
    create_topic(bootstrap, existing, 1)
    frame = _count_requests(existing)[name]
    figures = send_amplified(bootstrap, pid, frame, repeats=1)
    record_figures("amplification", target, case=f"{name}={PARTITION_COUNT}", entries=PARTITION_COUNT, **figures)
    return [f"{name}={PARTITION_COUNT}: {p} [{figures}]" for p in _problems(figures)]


@pytest.mark.parametrize("name", ["CreateTopics-num_partitions", "CreatePartitions-count"])
def test_partition_count_amplification_schemabus(fresh_broker, name):
    problems = run_count_case("schemabus", fresh_broker.bootstrap, fresh_broker.proc.pid, name)
    assert fresh_broker.alive(), "the broker died"
    try:
        _still_serves(fresh_broker.bootstrap)
    except Exception as exc:  # noqa: BLE001 - reported with the rest
        problems.append(f"afterwards a normal client fails: {exc}")
    log_text = fresh_broker.log_text()
    if "Traceback" in log_text:
        problems.append(f"traceback in the broker log:\n{log_text[-1500:]}")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.skipif(not LONG, reason="long mode only (SCHEMABUS_FAULTS_LONG=1)")
def test_partition_count_amplification_apache_kafka(private_kafka):
    missed = []
    for name in ("CreateTopics-num_partitions", "CreatePartitions-count"):
        missed += run_count_case("apache-kafka", private_kafka.bootstrap, private_kafka.pid, name)
        assert private_kafka.alive(), "Apache Kafka died"
        _still_serves(private_kafka.bootstrap)
    record_figures("amplification", "apache-kafka", case="partition-count summary", problems=len(missed),
                   examples=[m.split(" [")[0] for m in missed])
