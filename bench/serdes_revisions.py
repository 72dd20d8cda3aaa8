"""Serdes hot paths of this tree against another git revision, same invocation.

For a refactor that must not slow the per-record paths down: records/s of our Avro and JSON
Schema serializer and deserializer (the objects users call, their caches filled so no registry
is involved), and of the governed topics' Avro payload check, timed in separate processes for
the two trees, alternating (this, other, other, this, ...). Each timing is the best of 15
repeats of a fixed count (the least disturbed one on a shared VM); the table gives the median
and spread of the timings, and this/other as the median (min-max) of the paired rounds.

The other revision is checked out into a temporary git worktree. Trees from before the format
layer (`formats/`, commit 531fd68) are measured through their own modules (serdes.client,
broker.schema_validation.payload_checker).

    python bench/serdes_revisions.py [--against 982f2d2] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.harness import alternating, spread, summarize  # noqa: E402

CASES = ("avro serialize", "avro deserialize", "json serialize", "json deserialize", "governed avro payload check")
AVRO = json.dumps({"type": "record", "name": "R", "namespace": "bench", "fields": [
    {"name": f"f{i}", "type": ["string", "long", "double", "boolean"][i % 4]} for i in range(10)]})
JSON_SCHEMA = json.dumps({"type": "object", "title": "R", "required": [f"f{i}" for i in range(10)], "properties": {
    f"f{i}": {"type": ["string", "integer", "number", "boolean"][i % 4]} for i in range(10)}})
VALUE = {f"f{i}": ["text-%d" % i, 1234567 * i, 3.25 * i, i % 2 == 0][i % 4] for i in range(10)}
HEADER = b"\x00\x00\x00\x00\x01"


def measure(root: str) -> dict[str, float]:
    """Records/s per case for the tree at `root` (run in a child process)."""
    sys.path.insert(0, root)
    from serdes import MessageField, Schema, SchemaRegistryClient, SerializationContext
    from serdes.avro import AvroDeserializer, AvroSerializer
    from serdes.json_schema import JSONDeserializer, JSONSerializer

    client = SchemaRegistryClient({"url": "http://127.0.0.1:9"})  # never called: caches are filled
    ctx = SerializationContext("t", MessageField.VALUE)
    avro, json_schema = Schema(AVRO, "AVRO"), Schema(JSON_SCHEMA, "JSON")
    try:
        from serdes.base import parsed_schema
        from broker.schema_validation import prepare_schema

        def prepared(resolver, schema):
            return resolver.prepare(parsed_schema(client, schema))

        def reader_cache(deserializer):
            cache = deserializer._readers
            cache._parsed[1] = cache.parse(parsed_schema(client, avro))

        check_payload = prepare_schema(client, avro)[1]
    except ImportError:  # a tree from before the format layer
        from broker.schema_validation import payload_checker

        def prepared(resolver, schema):
            return resolver.prepare(schema)

        def reader_cache(deserializer):
            cache = deserializer._writers
            cache._parsed[1] = cache.parse(avro)

        check_payload = payload_checker(client, avro)

    avro_serializer = AvroSerializer(client, AVRO, conf={"auto.register.schemas": False})
    avro_serializer._by_target[("t", MessageField.VALUE)] = (HEADER, prepared(avro_serializer._resolver, avro))
    avro_data = avro_serializer(VALUE, ctx)
    avro_deserializer = AvroDeserializer(client)
    reader_cache(avro_deserializer)
    json_serializer = JSONSerializer(JSON_SCHEMA, client, conf={"auto.register.schemas": False})
    json_serializer._resolver._by_subject["t-value"] = (HEADER, prepared(json_serializer._resolver, json_schema))
    json_data = json_serializer(VALUE, ctx)
    json_deserializer = JSONDeserializer(JSON_SCHEMA)
    assert avro_deserializer(avro_data, ctx) == VALUE == json_deserializer(json_data, ctx)
    assert check_payload(avro_data) is None

    def rate(call, count: int) -> float:
        return count / min(timeit.repeat(call, number=count, repeat=15))

    return {
        "avro serialize": rate(lambda: avro_serializer(VALUE, ctx), 20_000),
        "avro deserialize": rate(lambda: avro_deserializer(avro_data, ctx), 20_000),
        "json serialize": rate(lambda: json_serializer(VALUE, ctx), 10_000),
        "json deserialize": rate(lambda: json_deserializer(json_data, ctx), 10_000),
        "governed avro payload check": rate(lambda: check_payload(avro_data), 20_000),
    }


def run_child(root: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, str(REPO / "bench" / "serdes_revisions.py"), "--measure", str(root)],
                         cwd=root, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"measuring {root} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", default="982f2d2", help="the git revision to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    with tempfile.TemporaryDirectory(prefix="schemabus-rev-") as tmp:
        other = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(other), args.against], cwd=REPO, check=True,
                       capture_output=True)
        try:
            results: dict[str, list[dict]] = {"this": [], "other": []}
            for tree in alternating(["this", "other"], args.rounds):
                results[tree].append(run_child(REPO if tree == "this" else other))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=REPO, capture_output=True)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    print(f"records/s, best of 15 repeats per timing, {args.rounds} timings per tree in alternating order: "
          f"median (min-max); this = working tree at {head.strip()}, other = {args.against}\n")
    print("| case | this | other | this/other |\n|---|---:|---:|---:|")
    for case in CASES:
        this = [r[case] for r in results["this"]]
        other_rates = [r[case] for r in results["other"]]
        ratios = [a / b for a, b in zip(this, other_rates)]
        print(f"| {case} | {spread(summarize(this))} | {spread(summarize(other_rates))} | "
              f"{spread(summarize(ratios), ratio=True)} |")


if __name__ == "__main__":
    main()
