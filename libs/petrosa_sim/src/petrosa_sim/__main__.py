"""``petrosa-sim``: command line of the market simulator.

Each sub-command lives in an ``add_<name>_parser(subparsers)`` function that registers its
arguments and sets ``handler`` (a function taking the parsed namespace and returning the exit
code); :func:`build_parser` lists them. Adding a command means adding one such function.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from datetime import datetime

from nats.errors import Error as NatsError
from petrosa_common.cli import command_line
from petrosa_common.time import ensure_utc, to_epoch_ms

from petrosa_sim.binance.faults import BinanceFaults
from petrosa_sim.faults import FaultConfig, GapWindow
from petrosa_sim.frames import DEFAULT_STEP_MS, DEFAULT_TRADE_RATE, FrameGenerator, trade_rate_for
from petrosa_sim.intervals import DEFAULT_INTERVALS, UnsupportedIntervalError, check_interval
from petrosa_sim.kinds import EVENT_KINDS
from petrosa_sim.publisher import PublishStats, publish

DEFAULT_NATS_URL = "nats://localhost:4222"
DEFAULT_SUBJECT = "binance.futures.websocket.data"


def _parse_time(text: str) -> int:
    """ISO-8601 (``Z`` or offset; naive means UTC) or epoch milliseconds -> epoch ms."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from None
    try:
        return to_epoch_ms(ensure_utc(moment))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate_share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within [0, 1], got {text}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def _symbols(text: str) -> list[str]:
    symbols = [s.strip().upper() for s in text.split(",") if s.strip()]
    if not symbols:
        raise argparse.ArgumentTypeError("need at least one symbol")
    return symbols


def _intervals(text: str) -> list[str]:
    try:
        return [check_interval(i.strip()) for i in text.split(",") if i.strip()]
    except UnsupportedIntervalError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _kinds(text: str) -> list[str]:
    chosen = [k.strip() for k in text.split(",") if k.strip()]
    unknown = sorted(set(chosen) - set(EVENT_KINDS))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown kinds {unknown}; choose from {', '.join(EVENT_KINDS)}"
        )
    return chosen


def _gap(text: str) -> GapWindow:
    """``SYMBOL:INTERVAL:START:END`` (interval ``*`` = every interval; times ISO or ms)."""
    parts = text.split(":", 2)
    if len(parts) != 3 or "/" not in parts[2]:
        raise argparse.ArgumentTypeError(
            f"expected SYMBOL:INTERVAL:START/END (e.g. BTCUSDT:1m:2024-01-01T00:00Z/"
            f"2024-01-01T00:10Z), got {text!r}"
        )
    symbol, interval, window = parts
    start, _, end = window.partition("/")
    return GapWindow(
        symbol.upper(),
        None if interval == "*" else interval,
        _parse_time(start),
        _parse_time(end),
    )


def add_publish_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``petrosa-sim publish``: stream simulated frames to NATS."""
    parser = subparsers.add_parser(
        "publish",
        help="publish simulated Binance futures frames to NATS",
        description="Publish simulated Binance USD-M futures websocket frames, wrapped like "
        "the socket client wraps them, to a NATS subject. Prints a JSON summary at the end.",
    )
    parser.add_argument(
        "--symbols",
        type=_symbols,
        default=["BTCUSDT", "ETHUSDT"],
        help="comma-separated symbols (default: BTCUSDT,ETHUSDT)",
    )
    parser.add_argument(
        "--rate",
        type=_non_negative,
        default=500.0,
        help="messages per second; 0 publishes as fast as possible (default: 500)",
    )
    parser.add_argument("--duration", type=_positive, help="stop after this many seconds")
    parser.add_argument("--count", type=int, help="stop after this many messages")
    parser.add_argument(
        "--nats-url",
        default=os.environ.get("NATS_URL", DEFAULT_NATS_URL),
        help=f"NATS server (default: $NATS_URL or {DEFAULT_NATS_URL})",
    )
    parser.add_argument(
        "--subject",
        default=os.environ.get("NATS_CONSUMER_SUBJECT", DEFAULT_SUBJECT),
        help=f"subject (default: $NATS_CONSUMER_SUBJECT or {DEFAULT_SUBJECT})",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--start",
        type=_parse_time,
        help="virtual start time, ISO-8601 or epoch ms (default: now, so the data looks live)",
    )
    parser.add_argument(
        "--intervals",
        type=_intervals,
        default=list(DEFAULT_INTERVALS),
        help=f"kline intervals (default: {','.join(DEFAULT_INTERVALS)})",
    )
    parser.add_argument(
        "--trade-rate",
        type=_non_negative,
        help="trades per virtual second and symbol (default: what keeps virtual time in step "
        f"with real time at --rate; {DEFAULT_TRADE_RATE:g} when unthrottled)",
    )
    parser.add_argument("--step-ms", type=int, default=DEFAULT_STEP_MS, help=argparse.SUPPRESS)
    parser.add_argument(
        "--kinds",
        type=_kinds,
        help=f"only these frame kinds, comma-separated ({', '.join(EVENT_KINDS)})",
    )
    defaults = FaultConfig()
    for name, text in (
        ("gap_rate", "chance a candle is never published"),
        ("duplicate_rate", "share of re-published earlier frames"),
        ("malformed_rate", "share of frames no consumer can store"),
        ("bare_rate", "share of frames sent without the envelope"),
        ("partial_book_rate", "share of depth frames sent as partial book snapshots"),
        ("trace_rate", "share of envelopes with OpenTelemetry trace keys"),
        ("missing_interval_rate", "share of kline frames on stream <sym>@kline"),
    ):
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=_rate_share,
            default=getattr(defaults, name),
            metavar="SHARE",
            help=f"{text} (default: {getattr(defaults, name):g})",
        )
    parser.add_argument(
        "--gap",
        type=_gap,
        action="append",
        default=[],
        metavar="SYMBOL:INTERVAL:START/END",
        help="never publish candles opening in [START, END) (repeatable; INTERVAL * = all)",
    )
    parser.set_defaults(handler=run_publish)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65_535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text}")
    return value


def add_binance_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``petrosa-sim binance``: serve a fake Binance USD-M futures REST API."""
    parser = subparsers.add_parser(
        "binance",
        help="serve a fake Binance USD-M futures REST API",
        description="Serve /fapi/v1/{ping,time,exchangeInfo,klines,markPriceKlines,aggTrades,"
        "fundingRate} with deterministic market history, Binance's validation, request "
        "weights and rate limits, and switchable faults (POST /_fake/faults, GET /_fake/stats).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8081, help="TCP port (default: 8081)")
    parser.add_argument("--seed", type=int, default=0, help="market history seed (default: 0)")
    parser.add_argument(
        "--symbols",
        type=_symbols,
        default=["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"],
        help="comma-separated listed symbols (default: BTCUSDT,ETHUSDT,BNBUSDT,SOLUSDT,XRPUSDT)",
    )
    parser.add_argument(
        "--weight-limit",
        type=_positive_int,
        default=2_400,
        help="request weight per IP and minute (default: 2400)",
    )
    parser.add_argument(
        "--funding-rate-limit",
        type=_positive_int,
        default=500,
        help="/fapi/v1/fundingRate requests per IP and 5 minutes (default: 500)",
    )
    parser.add_argument(
        "--listing",
        type=_parse_time,
        help="no data before this time, ISO-8601 or epoch ms (default: 2020-01-06T00:00Z)",
    )
    faults = BinanceFaults()
    parser.add_argument(
        "--latency-ms", type=_non_negative, default=faults.latency_ms, help="added latency"
    )
    parser.add_argument(
        "--status-5xx-rate",
        type=_rate_share,
        default=faults.status_5xx_rate,
        metavar="SHARE",
        help="share of requests failing with 503 (seeded)",
    )
    parser.add_argument(
        "--status-5xx-every", type=int, default=0, metavar="N", help="every N-th request fails"
    )
    parser.add_argument(
        "--status-429-every", type=int, default=0, metavar="N", help="every N-th request gets 429"
    )
    parser.add_argument(
        "--ban-seconds",
        type=_non_negative,
        default=faults.ban_seconds,
        help=f"length of an IP ban (418) (default: {faults.ban_seconds:g})",
    )
    parser.add_argument(
        "--ban-after-429s",
        type=int,
        default=faults.ban_after_429s,
        metavar="N",
        help=f"429s tolerated per window before a ban (default: {faults.ban_after_429s})",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn log level (default: info)",
    )
    parser.set_defaults(handler=run_binance)


def run_binance(args: argparse.Namespace) -> int:
    """Handler of ``petrosa-sim binance``."""
    from petrosa_sim.binance import DEFAULT_LISTING_MS, BinanceConfig, serve_forever

    try:
        faults = BinanceFaults(
            latency_ms=args.latency_ms,
            status_5xx_rate=args.status_5xx_rate,
            status_5xx_every=args.status_5xx_every,
            status_429_every=args.status_429_every,
            ban_seconds=args.ban_seconds,
            ban_after_429s=args.ban_after_429s,
        )
        config = BinanceConfig(
            seed=args.seed,
            symbols=tuple(args.symbols),
            weight_limit=args.weight_limit,
            funding_rate_limit=args.funding_rate_limit,
            listing_ms=DEFAULT_LISTING_MS if args.listing is None else args.listing,
            faults=faults,
        )
    except ValueError as exc:
        print(f"petrosa-sim: {exc}", file=sys.stderr)
        return 2
    serve_forever(config, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``petrosa-sim`` argument parser with every sub-command registered."""
    parser = command_line(
        "petrosa-sim",
        description="Market simulator for the Petrosa Data Manager.",
        distribution="petrosa-sim",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_publish_parser(subparsers)
    add_binance_parser(subparsers)
    return parser


def run_publish(args: argparse.Namespace) -> int:
    """Handler of ``petrosa-sim publish``."""
    rate: float | None = args.rate or None
    try:
        faults = FaultConfig(
            gap_rate=args.gap_rate,
            duplicate_rate=args.duplicate_rate,
            malformed_rate=args.malformed_rate,
            bare_rate=args.bare_rate,
            partial_book_rate=args.partial_book_rate,
            trace_rate=args.trace_rate,
            missing_interval_rate=args.missing_interval_rate,
            gaps=tuple(args.gap),
        )
        trade_rate = args.trade_rate
        if trade_rate is None:
            trade_rate = _live_trade_rate(rate, args.symbols, args.intervals, faults)
        generator = FrameGenerator(
            args.symbols,
            seed=args.seed,
            start_ms=args.start,
            intervals=args.intervals,
            step_ms=args.step_ms,
            trade_rate=trade_rate,
            faults=faults,
            kinds=args.kinds,
        )
    except ValueError as exc:
        print(f"petrosa-sim: {exc}", file=sys.stderr)
        return 2
    try:
        stats = asyncio.run(_publish_until_signal(args, generator, rate))
    except (OSError, TimeoutError, NatsError) as exc:
        print(f"petrosa-sim: cannot publish to {args.nats_url}: {exc!r}", file=sys.stderr)
        return 1
    summary = {
        **stats.as_dict(),
        "subject": args.subject,
        "nats_url": args.nats_url,
        "symbols": list(generator.symbols),
        "seed": args.seed,
        "trade_rate": round(trade_rate, 3),
        "virtual_start_ms": generator.start_ms,
        "virtual_end_ms": generator.now_ms,
        "suppressed_candles": len(generator.suppressed_candles),
    }
    print(json.dumps(summary, indent=2))
    return 0


def _live_trade_rate(
    rate: float | None, symbols: Sequence[str], intervals: Sequence[str], faults: FaultConfig
) -> float:
    """Trade rate that keeps virtual time in step with real time at ``rate`` msgs/s."""
    if rate is None:
        return DEFAULT_TRADE_RATE
    trade_rate = trade_rate_for(rate, len(symbols), intervals, faults)
    if trade_rate == 0.0:
        print(
            f"petrosa-sim: --rate {rate:g} is below what {len(symbols)} symbol(s) emit "
            "without any trade; virtual time will lag behind real time",
            file=sys.stderr,
        )
    return trade_rate


async def _publish_until_signal(
    args: argparse.Namespace, generator: FrameGenerator, rate: float | None
) -> PublishStats:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return await publish(
        args.nats_url,
        args.subject,
        generator,
        rate=rate,
        duration=args.duration,
        count=args.count,
        stop=stop,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``petrosa-sim`` console script."""
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
