"""`python -m bench [name …]`: run the benches (all by default) and print their figures."""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from bench.common import report

BENCHES = {
    "ledger": "ledger hold+capture vs raw SQL (PostgreSQL, 8 threads)",
    "lots": "hold+capture from 20 live lots vs 1 lot (PostgreSQL, 8 threads)",
    "statements": "SQL statements per request (SQLAlchemy event hook)",
    "serving": "GET /credits/badge vs a bare route and a one-statement route under gunicorn, worker memory",
    "history": "history page latency, 1,000,000 ledger rows vs 100",
    "slow_features": "150 image jobs within 3 s against an 8 s image API",
    "assistant": "streamed answers in Chromium vs the stand-in's first token; statements of a metered spend",
}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benches; with --strict, exit 1 when a figure missed its target."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="name", help=f"any of: {', '.join(BENCHES)} (default: all)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHES]
    if unknown:
        parser.error(f"unknown bench {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    missed = []
    for name in args.names or list(BENCHES):
        started = time.perf_counter()
        figures = importlib.import_module(f"bench.{name}").run()
        report(f"{name}: {BENCHES[name]} ({time.perf_counter() - started:.0f}s)", figures)
        missed += [f.name for f in figures if f.passed is False]
    print(f"MISSED: {', '.join(missed)}" if missed else "all targets met", flush=True)
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
