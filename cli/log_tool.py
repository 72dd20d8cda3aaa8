"""`schemabus log verify|dump`: read a broker's data directory offline, as Apache Kafka's
kafka-dump-log (kafka.tools.DumpLogSegments) does.

    schemabus log verify --data-dir DIR [--topic T [--partition P]] [--deep-iteration] [--output json]
    schemabus log dump --files SEG.log[,SEG.index,...] [PARTITION_DIR ...] [--deep-iteration] [--print-data-log]

`verify` checks every batch (sizes, offsets, CRC) and the indexes of every partition, prints
one summary line per partition and one line per problem (file, position, offset), and exits
0 if all is well, 1 if it found a problem, 2 if it could not look (no such directory...).
`dump` prints batches with kafka-dump-log's field names. Both only read (no file is opened
for writing), so they are safe on the data dir of a running broker. Errors are one line on
stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from broker.records import (
    CONTROL_ABORT,
    CONTROL_COMMIT,
    CODEC_NAMES,
    DELETE_HORIZON_BIT,
    TIMESTAMP_TYPE_BIT,
    InvalidBatch,
    check_batch,
    control_marker,
    decode_records,
    parse_header,
)
from broker.storage.segment import (
    INDEX_SUFFIX,
    LOG_SUFFIX,
    TIMEINDEX_SUFFIX,
    iter_batches_in_file,
    parse_segment_file_name,
)
from broker.storage.verify import OFFSET_ENTRY, TIME_ENTRY, NoPartitions, partition_directories, verify_partition
from cli.output import CommandError

EXIT_OK, EXIT_CORRUPT, EXIT_USAGE = 0, 1, 2
RECORD_INDENT = "|"
DUMPABLE = (LOG_SUFFIX, INDEX_SUFFIX, TIMEINDEX_SUFFIX)


# -- verify --------------------------------------------------------------------------------


def cmd_verify(args) -> int:
    if args.partition is not None and args.topic is None:
        raise CommandError("--partition needs --topic", EXIT_USAGE)
    try:
        directories = partition_directories(Path(args.data_dir), args.topic, args.partition)
    except NoPartitions as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    except OSError as exc:
        raise CommandError(f"cannot read {args.data_dir}: {exc.strerror}", EXIT_USAGE) from None
    reports = []
    for directory in directories:
        try:
            reports.append(verify_partition(directory, deep=args.deep_iteration))
        except FileNotFoundError:
            continue  # the topic was deleted meanwhile (a running broker)
        except OSError as exc:
            raise CommandError(f"cannot read {directory}: {exc.strerror}", EXIT_USAGE) from None
    bad = [r for r in reports if not r.ok]
    code = EXIT_CORRUPT if bad else EXIT_OK
    try:
        if args.output == "json":
            print(json.dumps({"ok": not bad, "partitions": [r.as_dict() for r in reports]}, indent=2))
        else:
            _print_reports(reports)
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
    return code


def _print_reports(reports) -> None:
    rows = []
    for r in reports:
        offsets = "empty" if r.first_offset is None else f"offsets {r.first_offset}-{r.last_offset}"
        rows.append([r.name, "ok" if r.ok else "CORRUPT", _plural(r.segments, "segment"), _plural(r.batches, "batch"),
                     _plural(r.records, "record"), offsets, _plural(r.bytes, "byte"),
                     "clean shutdown" if r.clean_shutdown else "no clean-shutdown marker (running or crashed)"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))] if rows else []
    for r, row in zip(reports, rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        for problem in r.problems:
            print(f"  {problem}")
        for note in r.notes:
            print(f"  note: {note}")
    bad = [r for r in reports if not r.ok]
    problems = sum(len(r.problems) for r in reports)
    print(f"{_plural(len(reports), 'partition')} verified: "
          + ("no problems" if not bad else f"{_plural(problems, 'problem')} in {_plural(len(bad), 'partition')}"))


def _plural(n: int, word: str) -> str:
    if n == 1:
        return f"1 {word}"
    return f"{n} {word}es" if word.endswith("ch") else f"{n} {word}s"


# -- dump ----------------------------------------------------------------------------------


def cmd_dump(args) -> int:
    files = _dump_files(args.files)
    deep = args.deep_iteration or args.print_data_log
    for path in files:
        print(f"Dumping {path}")
        if path.name.endswith(LOG_SUFFIX):
            _dump_log(path, deep, args.print_data_log, args.max_bytes)
        elif path.name.endswith(TIMEINDEX_SUFFIX):
            _dump_time_index(path)
        else:
            _dump_offset_index(path)
    return EXIT_OK


def _dump_files(values: list[str]) -> list[Path]:
    """--files values (comma-separated as Kafka's, or repeated): segment and index files,
    or partition directories (all their .log files in offset order)."""
    out: list[Path] = []
    for value in values:
        for item in filter(None, (v.strip() for v in value.split(","))):
            path = Path(item)
            if path.is_dir():
                logs = sorted(p for p in path.iterdir() if parse_segment_file_name(p.name) is not None)
                if not logs:
                    raise CommandError(f"{path}: no segment files (<20-digit offset>.log) in this directory",
                                       EXIT_USAGE)
                out += logs
            elif not path.exists():
                raise CommandError(f"{path}: no such file or directory", EXIT_USAGE)
            elif not path.name.endswith(DUMPABLE):
                raise CommandError(f"{path}: not a .log, .index or .timeindex file, nor a partition directory",
                                   EXIT_USAGE)
            else:
                out.append(path)
    return out


def _base_offset(path: Path) -> int:
    stem = path.name.split(".", 1)[0]
    return int(stem) if stem.isdigit() else 0


def _dump_log(path: Path, deep: bool, print_data: bool, max_bytes: int | None) -> None:
    print(f"Log starting offset: {_base_offset(path)}")
    write = sys.stdout.write
    with open(path, "rb") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        end = size if max_bytes is None else min(size, max_bytes)
        valid_end = 0
        for pos, batch in iter_batches_in_file(fd, 0, end):
            header = parse_header(batch)
            try:
                check_batch(batch)
                valid = True
            except InvalidBatch:
                valid = False
            write(_batch_line(pos, header, valid) + "\n")
            if deep:
                for line in _record_lines(batch, header, print_data):
                    write(line + "\n")
            valid_end = pos + header.size
        if valid_end < size and max_bytes is None:
            print(f"Found {size - valid_end} invalid bytes at the end of {path.name}")


def _bool(value) -> str:
    return "true" if value else "false"


def _batch_line(pos: int, h, valid: bool) -> str:
    horizon = f"OptionalLong[{h.base_timestamp}]" if h.attributes & DELETE_HORIZON_BIT else "OptionalLong.empty"
    timestamp_type = "LogAppendTime" if h.attributes & TIMESTAMP_TYPE_BIT else "CreateTime"
    codec = CODEC_NAMES.get(h.compression, f"unknown({h.compression})")
    return (f"baseOffset: {h.base_offset} lastOffset: {h.last_offset} count: {h.record_count} "
            f"baseSequence: {h.base_sequence} lastSequence: {h.last_sequence} producerId: {h.producer_id} "
            f"producerEpoch: {h.producer_epoch} partitionLeaderEpoch: {h.leader_epoch} "
            f"isTransactional: {_bool(h.is_transactional)} isControl: {_bool(h.is_control)} "
            f"deleteHorizonMs: {horizon} position: {pos} {timestamp_type}: {h.max_timestamp} size: {h.size} "
            f"magic: {h.magic} compresscodec: {codec} crc: {h.crc} isvalid: {_bool(valid)}")


def _record_lines(batch, h, print_data: bool):
    try:
        records = decode_records(batch)
    except (InvalidBatch, ValueError, IndexError) as exc:
        yield f"{RECORD_INDENT} cannot decode the records of this batch: {exc}"
        return
    timestamp_type = "LogAppendTime" if h.attributes & TIMESTAMP_TYPE_BIT else "CreateTime"
    for record in records:
        timestamp = h.max_timestamp if h.attributes & TIMESTAMP_TYPE_BIT else record.timestamp
        sequence = -1 if h.base_sequence < 0 else (h.base_sequence + record.offset - h.base_offset) & 0x7FFFFFFF
        line = (f"{RECORD_INDENT} offset: {record.offset} {timestamp_type}: {timestamp} "
                f"keySize: {_size(record.key)} valueSize: {_size(record.value)} sequence: {sequence} "
                f"headerKeys: [{','.join(_escape(k) for k, _ in record.headers)}]")
        if h.is_control:
            marker = control_marker(record)
            if marker in (CONTROL_ABORT, CONTROL_COMMIT) and record.value is not None and len(record.value) >= 6:
                epoch = int.from_bytes(record.value[2:6], "big", signed=True)
                line += f" endTxnMarker: {'COMMIT' if marker == CONTROL_COMMIT else 'ABORT'} coordinatorEpoch: {epoch}"
            else:
                line += f" controlType: UNKNOWN({-1 if marker is None else marker})"
        elif print_data:
            if record.key is not None:
                line += f" key: {_text(record.key)}"
            if record.value is not None:
                line += f" payload: {_text(record.value)}"
            if record.headers:
                line += " headers: [" + ",".join(f"{_escape(k)}={'null' if v is None else _text(v)}"
                                                 for k, v in record.headers) + "]"
        yield line


def _size(blob: bytes | None) -> int:
    return -1 if blob is None else len(blob)


_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _text(blob: bytes) -> str:
    """UTF-8 as is, invalid bytes and control characters escaped: one record per line."""
    return _escape(blob.decode("utf-8", "backslashreplace"))


def _escape(text: str) -> str:
    return _CONTROL_CHARS.sub(lambda m: _ESCAPES.get(m[0], f"\\x{ord(m[0]):02x}"), text)


def _dump_index(path: Path, entry, describe) -> None:
    """Print every whole entry of an index file (`describe(base, *fields)` -> one line),
    then the size of a torn tail, as kafka-dump-log does."""
    base = _base_offset(path)
    data = path.read_bytes()
    torn = len(data) % entry.size
    for fields in entry.iter_unpack(data[: len(data) - torn]):
        print(describe(base, *fields))
    if torn:
        print(f"Found {torn} invalid bytes at the end of {path.name}")


def _dump_offset_index(path: Path) -> None:
    _dump_index(path, OFFSET_ENTRY, lambda base, relative, position: f"offset: {base + relative} position: {position}")


def _dump_time_index(path: Path) -> None:
    _dump_index(path, TIME_ENTRY, lambda base, timestamp, relative: f"timestamp: {timestamp} offset: {base + relative}")


# -- registration ------------------------------------------------------------------------


def _quiet_stdout() -> None:
    """`| head` closed the pipe: stop printing quietly, as line tools do."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _run(command):
    def run(args) -> int:
        try:
            code = command(args)
            sys.stdout.flush()
            return code
        except BrokenPipeError:
            _quiet_stdout()
            return EXIT_OK
        except OSError as exc:  # e.g. a file removed or unreadable while dumping
            where = exc.filename or "the data"
            raise CommandError(f"cannot read {where}: {exc.strerror or exc}", EXIT_USAGE) from None
    return run


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def add_log_commands(sub) -> None:
    log = sub.add_parser("log", help="verify or dump a broker's log segments offline (kafka-dump-log)")
    actions = log.add_subparsers(dest="action", required=True)

    p = actions.add_parser("verify", help="check every batch's CRC, sizes, offsets and the indexes of a data dir")
    p.add_argument("--data-dir", required=True, help="the broker's --data-dir (or `schemabus up`'s)")
    p.add_argument("--topic", help="only this topic")
    p.add_argument("--partition", type=_non_negative, help="only this partition of --topic")
    p.add_argument("--deep-iteration", action="store_true", help="also decode every record of every batch")
    p.add_argument("--output", choices=("table", "json"), default="table")
    p.set_defaults(func=_run(cmd_verify))

    p = actions.add_parser("dump", help="print the batches of segment files, as kafka-dump-log does")
    p.add_argument("--files", action="extend", nargs="+", required=True, metavar="FILE[,FILE...]",
                   help=".log, .index or .timeindex files, or partition directories (comma-separated, repeatable)")
    p.add_argument("--deep-iteration", action="store_true", help="print every record, not only the batches")
    p.add_argument("--print-data-log", action="store_true",
                   help="print every record with its key, payload and headers (implies --deep-iteration)")
    p.add_argument("--max-bytes", type=_non_negative, help="read at most this many bytes of each .log file")
    p.set_defaults(func=_run(cmd_dump))
