"""Benchmark: the sync and support.py against the fake Stripe enforcing Stripe's limits, and a large re-read.

    make bench          # the sync (600 users, 150 rooms, 600 leases at 200 ms; live then test limits), an
                        # 11,000-object re-read, then both support commands on 300 extra items at live limits
    make bench ARGS="--users 20000 --rooms 5000 --leases 20000 --latency 0 --modes unlimited --reread 0"
    make bench ARGS="--modes live --reread-only --reread-shape burst"
    make bench ARGS="--support transfers --extra 300"   # only support.py, one or both commands
    make bench ARGS="--modes live --reread 0 --copied"  # the sync after Stripe's copy (then support)
    make bench ARGS="--modes live --reread 0 --undo"    # the sync, then the undo of its report

Each sync runs `sync.py --yes` as its own process (so its peak memory is its
own) against `devkit/fake_stripe.py` started with the mode's limits: live is
100 requests/s for the account and 25/s per endpoint, test 25 and 25 (429
with `Stripe-Rate-Limited-Reason`, no `Retry-After`). The sync runs with its
own defaults for the key's mode (`--live` with a live key). For each run:
wall time; T_min, the least time Stripe's limits allow for the requests made
(the busiest endpoint's requests over its limit, or all requests over the
account's limit, whichever is longer); efficiency T_min / wall; the share
answered 429; Stripe calls per synced row; peak memory. Then the fake's
account is seeded with customers, products and subscriptions created over a
year and read the way every run starts, timed.
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

from cohabs.shared.settings import Settings
from cohabs.shared.stripe.gateway import make_gateway
from cohabs.sync.calls import SyncCalls
from cohabs.sync.run import World, read_account
from devkit import support_dump
from devkit.dumpgen import generate
from devkit.mysql import Server, find_or_start, free_port

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"live": "sk_live_51BenchKeyNotASecret0000bnch", "test": "sk_test_51BenchKeyNotASecret0000bnch"}
# (account, endpoint) requests/s the fake enforces, per mode.
LIMITS: dict[str, tuple[float, float] | None] = {"live": (100.0, 25.0), "test": (25.0, 25.0), "unlimited": None}


@dataclass
class Result:
    mode: str
    rows: int
    requests: int
    throttled: int
    listing: int
    seconds: float
    t_min: float
    peak_mb: float
    exit_code: int

    def line(self) -> str:
        per_row = (self.requests - self.listing) / self.rows if self.rows else 0.0
        share = self.throttled / self.requests if self.requests else 0.0
        efficiency = f"{self.t_min / self.seconds:.0%}" if self.t_min else "-"
        return (
            f"{self.mode:<10}{self.rows:>7}{self.requests:>10}{self.throttled:>7} ({share:5.2%})"
            f"{self.seconds:>9.1f}s{self.t_min:>8.1f}s{efficiency:>12}{per_row:>11.3f}{self.peak_mb:>10.1f}"
        )


HEADER = (
    f"{'limits':<10}{'rows':>7}{'requests':>10}{'429s':>17}{'wall':>10}{'T_min':>9}{'T_min/wall':>12}"
    f"{'calls/row':>11}{'peak MB':>10}"
)


def start_fake(latency: float, mode: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    command = [sys.executable, "-m", "devkit.fake_stripe", "--port", str(port), "--latency", str(latency)]
    limits = LIMITS[mode]
    if limits:
        command += ["--rate-limit", str(limits[0]), "--endpoint-rate-limit", str(limits[1])]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    process.stdout.readline()  # "listening on …": the server is up
    return process, f"http://127.0.0.1:{port}"


def admin(url: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(f"{url}/_fake/{path}", data=data)) as answer:
        return dict(json.load(answer))


def stats(url: str) -> dict[str, Any]:
    return admin(url, "stats")


def database_env(server: Server, database: str) -> dict[str, str]:
    return {
        **os.environ,
        "DB_HOST": server.host,
        "DB_PORT": str(server.port),
        "DB_USER": server.user,
        "DB_PASSWORD": server.password,
        "DB_NAME": database,
    }


def t_min(counted: dict[str, Any], mode: str) -> float:
    limits = LIMITS[mode]
    if not limits:
        return 0.0
    made: dict[str, int] = counted["admitted"]
    return max(max(made.values(), default=0) / limits[1], sum(made.values()) / limits[0])


def sync_once(server: Server, dump: Path, mode: str, args: argparse.Namespace, copied: list[str]) -> Result:
    database = f"relink_bench_{os.getpid()}"
    conn = server.connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
    fake, url = start_fake(args.latency, mode)
    if copied:
        admin(url, "seed", {"copied": copied})  # Stripe's copy came first: a customer and a card per user
    env = {
        **database_env(server, database),
        "STRIPE_SECRET_KEY": KEYS["live" if mode == "live" else "test"],
        "STRIPE_API_BASE": url,
    }
    if args.rate_limit:
        env["STRIPE_RATE_LIMIT"] = env["STRIPE_ENDPOINT_RATE_LIMIT"] = str(args.rate_limit)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            subprocess.run([str(ROOT / "restore_dump.sh"), str(dump)], env=env, check=True, capture_output=True)
            command = [sys.executable, str(ROOT / "sync.py"), "--yes", "--report", f"{scratch}/report.json"]
            if mode == "live":
                command.append("--live")
            started = time.monotonic()
            with open(f"{scratch}/out.txt", "w") as out:
                sync = subprocess.Popen(command, cwd=scratch, env=env, stdout=out, stderr=subprocess.STDOUT)
                _, status, usage = os.wait4(sync.pid, 0)
            seconds = time.monotonic() - started
            counted = stats(url)
            if os.waitstatus_to_exitcode(status) not in (0, 3):
                sys.exit(f"the sync failed:\n{Path(scratch, 'out.txt').read_text()[-3000:]}")
            report = json.loads(Path(f"{scratch}/report.json").read_text())
            if args.verify:
                print(after_sync(env, scratch, url, mode, "--verify"), flush=True)
            if args.undo:
                undo = ["--undo", f"{scratch}/report.json", "--yes", *(["--live"] if mode == "live" else [])]
                print(after_sync(env, scratch, url, mode, *undo), flush=True)
        ended = sum(1 for r in report["rows"] if r.get("billing", {}).get("schedule") == "never")
        synced = sum(c for kind in report["counts"].values() for k, c in kind.items() if k not in ("skipped", "failed"))
        return Result(
            mode,
            rows=synced + ended,  # an ended lease is two rows: create, then cancel
            requests=counted["requests"],
            throttled=counted["throttled"],
            listing=counted["by_method"].get("GET", 0),
            seconds=seconds,
            t_min=t_min(counted, mode),
            peak_mb=usage.ru_maxrss / 1024,
            exit_code=os.waitstatus_to_exitcode(status),
        )
    finally:
        fake.terminate()
        fake.wait()
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
        conn.close()


def after_sync(env: dict[str, str], scratch: str, url: str, mode: str, *command: str) -> str:
    """`sync.py --verify` or `--undo` on the account the sync just made: its time and requests against the bound."""
    before = stats(url)["admitted"]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(ROOT / "sync.py"), *command], cwd=scratch, env=env, capture_output=True, text=True
    )
    seconds = time.monotonic() - started
    made = {k: v - before.get(k, 0) for k, v in stats(url)["admitted"].items()}
    previews = made.get("POST /v1/invoices/create_preview", 0)
    bound = t_min({"admitted": made}, mode)
    busiest = max(made, key=lambda endpoint: made[endpoint])
    return (
        f"  {command[0]} ({mode}): {seconds:.1f} s, exit {done.returncode}, "
        + (f"{previews} invoice previews, " if previews else "")
        + f"{sum(made.values())} requests (busiest: {busiest} {made[busiest]}), "
        f"T_min {bound:.1f} s ({bound / seconds:.0%})"
    )


DAY = 86400
# When the seeded objects were made: (from, to) seconds before now, and the share made then.
SHAPES: dict[str, list[tuple[int, int, float]]] = {
    "year": [(365 * DAY, 0, 1.0)],
    "burst": [(400 * DAY, 400 * DAY - 3600, 0.8), (DAY, 0, 0.2)],  # a migration a year ago, a trickle since
    "recent": [(3 * 365 * DAY, DAY, 0.2), (600, 0, 0.8)],  # most of it in the last ten minutes
    "old": [(3 * 365 * DAY, 2 * 365 * DAY, 1.0)],  # nothing in the last two years
}


def reread(mode: str, args: argparse.Namespace) -> str:
    """Seed an account made over time (--reread-shape), then read it as a run does; the time is the read alone."""
    fake, url = start_fake(args.reread_latency, mode)
    try:
        now = int(time.time())
        for part, (start, end, share) in enumerate(SHAPES[args.reread_shape]):
            counts = dict(
                zip(("customers", "products", "subscriptions"), (round(n * share) for n in args.reread), strict=True)
            )
            admin(url, "seed", {**counts, "since": now - start, "until": now - end, "seed": part})
        settings = Settings(stripe_key=KEYS["live" if mode == "live" else "test"], stripe_api_base=url)
        gateway = SyncCalls(make_gateway(settings, World()))
        started = time.monotonic()
        account = read_account(gateway, lambda text: None, settings)
        seconds = time.monotonic() - started
        counted = stats(url)
    finally:
        fake.terminate()
        fake.wait()
    pages = counted["by_method"].get("GET", 0)
    return (
        f"{mode:<10}{account.size():>8} objects {seconds:>6.1f}s  {pages} list requests "
        f"({counted['throttled']} answered 429), {args.reread_latency * 1000:.0f} ms each"
    )


SUPPORT_HEADER = (
    f"{'command':<11}{'extra':>6}{'items':>7}{'requests':>10}{'429s':>17}{'wall':>10}{'T_min':>9}{'T_min/wall':>12}"
    f"{'requests/item':>15}{'peak MB':>10}"
)


def support_once(server: Server, job: str, args: argparse.Namespace) -> tuple[str, int]:
    """One support command on the support dump plus `--extra` items of its kind, under live limits."""
    database = f"support_bench_{os.getpid()}"
    env = {**database_env(server, database), "SUPPORT_DB_NAME": database}  # support's own database setting
    settled, disputed = (args.extra, 0) if job == "transfers" else (0, args.extra)
    with tempfile.TemporaryDirectory() as scratch:
        dump = support_dump.generate(settled, disputed).write(Path(scratch) / "support.dump")
        subprocess.run(
            [str(ROOT / "restore_dump.sh"), "--replace", str(dump)], env=env, check=True, capture_output=True
        )
        limits = LIMITS["live"]
        assert limits is not None
        command = [sys.executable, "-m", "devkit.fake_stripe", "--port", str(free_port()), "--seed-support", database]
        command += ["--latency", str(args.latency), "--rate-limit", str(limits[0])]
        command += ["--endpoint-rate-limit", str(limits[1]), "--dispute-days", "30"]
        fake = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        try:
            assert fake.stdout is not None
            url = fake.stdout.readline().split()[-1]  # "listening on …": up and seeded
            run = {**env, "STRIPE_SECRET_KEY": KEYS["live"], "STRIPE_API_BASE": url}
            started = time.monotonic()
            with open(f"{scratch}/out.txt", "w") as out:
                support = subprocess.Popen(
                    [sys.executable, str(ROOT / "support.py"), job, "--yes", "--live"],
                    cwd=scratch,
                    env=run,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
                _, status, usage = os.wait4(support.pid, 0)
            seconds = time.monotonic() - started
            counted = stats(url)
        finally:
            fake.terminate()
            fake.wait()
            conn = server.connect()
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
            conn.close()
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 3):
            sys.exit(f"support.py {job} failed:\n{Path(scratch, 'out.txt').read_text()[-3000:]}")
        (report,) = Path(scratch, "reports").glob(f"support-{job}-run-*.json")
        items = sum(1 for item in json.loads(report.read_text())["items"] if item["done"])
    share = counted["throttled"] / counted["requests"] if counted["requests"] else 0.0
    floor = t_min(counted, "live")
    line = (
        f"{job:<11}{args.extra:>6}{items:>7}{counted['requests']:>10}{counted['throttled']:>7} ({share:5.2%})"
        f"{seconds:>9.1f}s{floor:>8.1f}s{floor / seconds:>12.0%}{counted['requests'] / max(items, 1):>15.2f}"
        f"{usage.ru_maxrss / 1024:>10.1f}"
    )
    return line, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=600)
    parser.add_argument("--rooms", type=int, default=150)
    parser.add_argument("--leases", type=int, default=600)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the fake adds to each request")
    parser.add_argument("--modes", default="live,test", help="limits to run the sync under: live, test, unlimited")
    parser.add_argument("--rate-limit", type=float, default=None, help="the sync's own limits (default: its own)")
    parser.add_argument(
        "--reread",
        type=lambda text: tuple(int(n) for n in text.split(",")) if text != "0" else (),
        default=(5000, 1000, 5000),
        help="customers,products,subscriptions to seed and re-read (0: skip)",
    )
    parser.add_argument("--reread-latency", type=float, default=0.3)
    parser.add_argument("--reread-only", action="store_true", help="skip the syncs")
    parser.add_argument("--reread-shape", choices=sorted(SHAPES), default="year", help="when the objects were made")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--verify",
        action="store_true",
        help="after each sync, time sync.py --verify (its previews); no support commands",
    )
    parser.add_argument(
        "--undo", action="store_true", help="after each sync, time sync.py --undo of its report; no support commands"
    )
    parser.add_argument(
        "--copied", action="store_true", help="seed a copied customer with one card per user before each sync"
    )
    parser.add_argument(
        "--support", help="only these support commands (disputes, transfers, comma-separated), nothing else"
    )
    parser.add_argument("--extra", type=int, default=300, help="generated items of each support command's kind")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    jobs = [j.strip() for j in (args.support or "disputes,transfers").split(",") if j.strip()]
    if args.support is not None:
        args.reread_only, args.reread = True, ()  # only the support commands
    if (args.verify or args.undo) and args.support is None:
        jobs = []  # the syncs and their audits or undos only

    server, private = find_or_start()
    results: list[Result] = []
    rereads: list[str] = []
    try:
        if not args.reread_only:
            with tempfile.TemporaryDirectory() as scratch:
                generated = generate(
                    args.users, args.rooms, args.leases, now=datetime.now().replace(microsecond=0), seed=args.seed
                )
                dump = generated.write(Path(scratch) / "bench.dump")
                copied = [u["email"] for u in generated.users] if args.copied else []
                print(
                    f"dump: {args.users} users, {args.rooms} rooms, {args.leases} leases; {args.latency * 1000:.0f} ms"
                    + ("; every user's customer and card copied into the account first" if copied else "")
                )
                print(HEADER)
                for mode in modes:
                    results.append(sync_once(server, dump, mode, args, copied))
                    print(results[-1].line(), flush=True)
        if args.reread:
            print(
                f"re-read of {sum(args.reread):,} objects ({'/'.join(map(str, args.reread))}), "
                f"made over time as '{args.reread_shape}':"
            )
            for mode in (m for m in modes if LIMITS[m]):
                rereads.append(reread(mode, args))
                print(rereads[-1])
        if jobs:
            print(f"support.py on the support dump plus {args.extra} items, live limits, {args.latency * 1000:.0f} ms:")
            print(SUPPORT_HEADER)
            for job in jobs:
                line, _ = support_once(server, job, args)
                print(line, flush=True)
    finally:
        if private:
            private.stop()
    bad = [r.mode for r in results if r.exit_code not in (0, 3)]
    if bad:
        sys.exit(f"sync failed in: {', '.join(bad)}")


if __name__ == "__main__":
    main()
