"""Benchmark: the sync against the fake Stripe with real latency and a hard rate limit.

    make bench                                   # 2,000 users, 500 rooms, 2,000 leases
    make bench ARGS="--leases 20000 --users 20000 --rooms 5000 --latency 0 --server-limit 0 --rate-limit 500"

Runs `sync.py --yes` as a separate process (so its peak memory is its own)
against `devkit/fake_stripe.py` started with --latency and
--rate-limit, then a serial baseline (concurrency 1) on a smaller dump of the
same shape. Prints requests, 429s, wall time, requests/s and its ratio to the
limit, Stripe calls per synced row, and peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from devkit.dumpgen import generate
from devkit.mysql import Server, find_or_start, free_port

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk_test_51BenchKeyNotASecret0000bnch"


@dataclass
class Result:
    label: str
    rows: int
    requests: int
    throttled: int
    listing: int
    seconds: float
    peak_mb: float
    exit_code: int

    def line(self, limit: float) -> str:
        rate = self.requests / self.seconds if self.seconds else 0.0
        ratio = f"{rate / limit:6.0%}" if limit else "     -"
        per_row = (self.requests - self.listing) / self.rows if self.rows else 0.0
        share = self.throttled / self.requests if self.requests else 0.0
        return (
            f"{self.label:<16}{self.rows:>7}{self.requests:>10}{self.throttled:>7} ({share:5.2%})"
            f"{self.seconds:>9.1f}s{rate:>9.2f}{ratio:>9}{per_row:>11.3f}{self.peak_mb:>10.1f}"
        )


HEADER = (
    f"{'run':<16}{'rows':>7}{'requests':>10}{'429s':>17}{'wall':>10}{'req/s':>9}{'of limit':>9}"
    f"{'calls/row':>11}{'peak MB':>10}"
)


def start_fake(latency: float, limit: float) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    command = [sys.executable, "-m", "devkit.fake_stripe", "--port", str(port), "--latency", str(latency)]
    if limit:
        command += ["--rate-limit", str(limit), "--retry-after", "1"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    process.stdout.readline()  # "listening on …": the server is up
    return process, f"http://127.0.0.1:{port}"


def stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_fake/stats") as answer:
        return dict(json.load(answer))


def run_once(
    label: str, server: Server, users: int, rooms: int, leases: int, args: argparse.Namespace, concurrency: int | None
) -> Result:
    database = f"relink_bench_{os.getpid()}"
    conn = server.connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
    fake, url = start_fake(args.latency, args.server_limit)
    env = {
        **os.environ,
        "DB_HOST": server.host,
        "DB_PORT": str(server.port),
        "DB_USER": server.user,
        "DB_PASSWORD": server.password,
        "DB_NAME": database,
        "STRIPE_SECRET_KEY": KEY,
        "STRIPE_API_BASE": url,
    }
    if args.rate_limit:
        env["STRIPE_RATE_LIMIT"] = str(args.rate_limit)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            dump = generate(users, rooms, leases, now=datetime.now().replace(microsecond=0), seed=args.seed)
            path = dump.write(Path(scratch) / "bench.dump")
            subprocess.run([str(ROOT / "restore_dump.sh"), str(path)], env=env, check=True, capture_output=True)
            command = [sys.executable, str(ROOT / "sync.py"), "--yes", "--report", f"{scratch}/report.json"]
            if concurrency:
                command += ["--concurrency", str(concurrency)]
            before = stats(url)
            started = time.monotonic()
            with open(f"{scratch}/out.txt", "w") as out:
                sync = subprocess.Popen(command, cwd=scratch, env=env, stdout=out, stderr=subprocess.STDOUT)
                _, status, usage = os.wait4(sync.pid, 0)
            seconds = time.monotonic() - started
            after = stats(url)
            if os.waitstatus_to_exitcode(status) not in (0, 3):
                sys.exit(f"the sync failed:\n{Path(scratch, 'out.txt').read_text()[-3000:]}")
            report = json.loads(Path(f"{scratch}/report.json").read_text())
        ended = sum(1 for r in report["rows"] if r.get("billing", {}).get("schedule") == "never")
        synced = sum(c for kind in report["counts"].values() for k, c in kind.items() if k not in ("skipped", "failed"))
        return Result(
            label,
            rows=synced + ended,  # an ended lease is two rows: create, then cancel
            requests=after["requests"] - before["requests"],
            throttled=after["throttled"] - before["throttled"],
            listing=after["by_method"].get("GET", 0) - before["by_method"].get("GET", 0),
            seconds=seconds,
            peak_mb=usage.ru_maxrss / 1024,
            exit_code=os.waitstatus_to_exitcode(status),
        )
    finally:
        fake.terminate()
        fake.wait()
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--leases", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.25, help="seconds the fake adds to each request")
    parser.add_argument("--server-limit", type=float, default=25.0, help="fake's requests/s before 429 (0: none)")
    parser.add_argument("--rate-limit", type=float, default=None, help="the sync's own limit (default: its own)")
    parser.add_argument("--baseline-fraction", type=float, default=0.1, help="serial run's size (0: skip it)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    server, private = find_or_start()
    limit = args.server_limit or args.rate_limit or 0.0
    try:
        print(f"fake Stripe: {args.latency * 1000:.0f} ms per request, limit {args.server_limit or 'none'}/s")
        results = [run_once("concurrent", server, args.users, args.rooms, args.leases, args, None)]
        if args.baseline_fraction:
            f = args.baseline_fraction
            size = (max(1, int(args.users * f)), max(1, int(args.rooms * f)), max(1, int(args.leases * f)))
            results.append(run_once("serial (1)", server, *size, args, 1))
    finally:
        if private:
            private.stop()
    print(HEADER)
    for result in results:
        print(result.line(limit))
    if len(results) == 2 and results[1].seconds:
        fast, slow = (r.requests / r.seconds for r in results)
        print(f"speed-up over serial: {fast / slow:.1f}x (requests/s)")
    bad = [r.label for r in results if r.exit_code not in (0, 3)]
    if bad:
        sys.exit(f"sync failed in: {', '.join(bad)}")


if __name__ == "__main__":
    main()
