"""The `schemabus` command: `up`, `broker` (and, as they arrive, `registry` and admin tools)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from broker.config import BrokerConfig, ConfigError, parse_key_values

DEFAULT_DATA_DIR = "./schemabus-data"


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


async def _run_broker(data_dir: Path, listen: str, config: BrokerConfig, ready_line: str) -> None:
    from broker.broker import Broker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    broker = Broker(data_dir, listen, config)
    await broker.start()
    host, port = broker.advertised
    print(ready_line.format(bootstrap=f"{host}:{port}"), flush=True)
    try:
        await stop.wait()
    finally:
        await broker.stop()


def cmd_broker(args) -> int:
    config = BrokerConfig(parse_key_values(args.config))
    asyncio.run(_run_broker(Path(args.data_dir), args.listen, config,
                            "schemabus broker ready: bootstrap.servers={bootstrap}"))
    return 0


def cmd_up(args) -> int:
    config = BrokerConfig(parse_key_values(args.config))
    data_dir = Path(args.data_dir)
    asyncio.run(_run_broker(data_dir / "broker", args.listen, config,
                            "schemabus up: broker at {bootstrap} (Ctrl-C stops)"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="schemabus", description="Schema-governed messaging platform")
    parser.add_argument("--log-level", default=os.environ.get("SCHEMABUS_LOG_LEVEL", "INFO"))
    sub = parser.add_subparsers(dest="command", required=True)

    broker = sub.add_parser("broker", help="run the Kafka-compatible broker")
    broker.add_argument("--data-dir", default=f"{DEFAULT_DATA_DIR}/broker")
    broker.add_argument("--listen", default="127.0.0.1:9092", help="host:port to listen on")
    broker.add_argument("--config", action="append", metavar="KEY=VALUE",
                        help="a Kafka broker config, e.g. num.partitions=3 (repeatable)")
    broker.set_defaults(func=cmd_broker)

    up = sub.add_parser("up", help="run the whole platform on this machine")
    up.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    up.add_argument("--listen", default="127.0.0.1:9092", help="broker host:port")
    up.add_argument("--config", action="append", metavar="KEY=VALUE", help="a Kafka broker config (repeatable)")
    up.set_defaults(func=cmd_up)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"schemabus: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"schemabus: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
