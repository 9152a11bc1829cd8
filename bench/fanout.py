"""Federation fan-out: one public post from `tent serve` to N subscribed peers, beside a bare client floor.

    .venv/bin/python bench/fanout.py [--peers 1000] [--profile [--native]]

PostgreSQL: TENT_BENCH_DATABASE_URL, else TENT_TEST_DATABASE_URL, else an embedded one. One
fresh database is created there and dropped at the end. Prints a table and writes it as JSON
to bench/results/fanout.json; exits 1 unless every peer got the post. See bench/README.md.

The peers are one light receiver process (`fanout.py --receiver PORT`, a bare aiohttp app)
answering 200 to `PUT /p{N}/posts/{entity}/{post}` without checking signatures; each path
prefix `/p{N}` stands for one independent peer entity.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import uritemplate
from bench_posts import (
    POST_MEDIA_TYPE,
    STATUS_TYPE,
    Owner,
    Process,
    admin,
    clean_env,
    discover_endpoints,
    free_port,
    log_tail,
    owner_credentials,
    rss_mb,
    run_cleaning_up,
    start,
    stop,
    tent_command,
    wait_ready,
    with_database,
)
from profiling import print_profile, start_profiler, stop_profiler

from tent.auth.hawk import Credentials, sign_request
from tent.core import media
from tent.delivery.federation import notification_body

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "fanout.json"
PROFILE = BENCH_DIR / "results" / "fanout-profile.txt"
META_TYPE = "https://tent.io/types/meta/v0#"
CONCURRENCY = 64  # tent.delivery.outbox.Outbox's default, used by the floor too
TARGET = 0.8  # minimum ours/floor deliveries/s
POLL_S = 0.02  # /stats polling interval while waiting for the fan-out
TIMEOUT_S = 120.0  # longest wait for every peer to get the post
SETTLE_S = 10.0  # longest wait, after the last arrival, for the server to record every outcome


# -- the receiver (its own process) ------------------------------------------------------


def run_receiver(port: int) -> None:
    """Answer 200 to `PUT /p{N}/posts/...`, recording per peer N when each request arrived.

    GET /stats: {count, first, last, peers, signed, bytes, per_peer_counts, arrivals}
    (`?brief=1` leaves out the two per-peer maps); POST /reset forgets everything.
    """
    from aiohttp import web

    arrivals: dict[int, list[float]] = {}
    totals = {"count": 0, "first": None, "last": None, "signed": 0, "bytes": 0}

    async def put(request: web.Request) -> web.Response:
        body = await request.read()
        now = time.time()
        try:
            peer = int(request.match_info["peer"])
        except ValueError:
            return web.Response(status=404)
        arrivals.setdefault(peer, []).append(now)
        totals["count"] += 1
        totals["bytes"] += len(body)
        totals["signed"] += "Authorization" in request.headers
        if totals["first"] is None:
            totals["first"] = now
        totals["last"] = now
        return web.Response(status=200)

    async def stats(request: web.Request) -> web.Response:
        out: dict[str, Any] = {**totals, "peers": len(arrivals)}
        if not request.query.get("brief"):
            out["per_peer_counts"] = {str(n): len(t) for n, t in arrivals.items()}
            out["arrivals"] = {str(n): t for n, t in arrivals.items()}
        return web.json_response(out)

    async def reset(_: web.Request) -> web.Response:
        arrivals.clear()
        totals.update(count=0, first=None, last=None, signed=0, bytes=0)
        return web.Response(status=204)

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_put("/p{peer}/posts/{rest:.+}", put)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=lambda *_: None)


def receiver_stats(base: str, brief: bool = False) -> dict[str, Any]:
    with urllib.request.urlopen(base + ("/stats?brief=1" if brief else "/stats"), timeout=10) as resp:
        stats: dict[str, Any] = json.loads(resp.read())
        return stats


def receiver_reset(base: str) -> None:
    urllib.request.urlopen(urllib.request.Request(base + "/reset", method="POST"), timeout=10).close()


def wait_all(base: str, peers: int, since: float, servers: list[Process], dsn: str) -> dict[str, Any]:
    """Poll the receiver until `peers` distinct peers have a request, TIMEOUT_S passed, or (checked
    every second) no delivery is pending any more, so none can come."""
    polls = 0
    while True:
        stats = receiver_stats(base, brief=True)
        if stats["peers"] >= peers or time.time() - since > TIMEOUT_S:
            return stats
        for p in servers:
            if p.proc.poll() is not None:
                raise RuntimeError(f"{p.name} exited with {p.proc.returncode}:\n{log_tail(p)}")
        polls += 1
        if polls % int(1 / POLL_S) == 0 and "pending" not in asyncio.run(delivery_states(dsn))["states"]:
            time.sleep(0.2)  # the last PUT may be recorded before its request reaches the receiver's stats
            return receiver_stats(base, brief=True)
        time.sleep(POLL_S)


# -- seeding -----------------------------------------------------------------------------


def peer_entity(recv_port: int, n: int) -> str:
    return f"http://127.0.0.1:{recv_port}/p{n}"


def peer_meta(entity: str) -> dict[str, Any]:
    """The least of a meta post `Federation.deliver` reads: content.servers[].urls.post
    (a URI template) and `preference` (server order)."""
    return {
        "type": META_TYPE,
        "entity": entity,
        "content": {
            "entity": entity,
            "servers": [
                {"version": "0.3", "preference": 0, "urls": {"post": entity + "/posts/{entity}/{post}"}}
            ],
        },
    }


async def seed_peers(dsn: str, recv_port: int, peers: int) -> None:
    """`peers` active relationships (with credentials the peer gave us and its meta post) and
    one subscription to `all` each: straight into the tables, no relationship handshake."""
    entities = [peer_entity(recv_port, n) for n in range(1, peers + 1)]
    creds = [
        json.dumps({"id": f"peer{n}", "hawk_key": secrets.token_hex(32), "hawk_algorithm": "sha256"})
        for n in range(1, peers + 1)
    ]
    metas = [json.dumps(peer_meta(e)) for e in entities]
    now = time.time_ns() // 1_000_000
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO relationships (entity, our_post_id, our_credentials_id, remote_credentials,"
                " remote_meta, active, updated_at)"
                " SELECT e, 'rel-' || i, 'cred-' || i, c::jsonb, m::jsonb, true, $4"
                " FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(e, c, m, i)",
                entities,
                creds,
                metas,
                now,
            )
            await conn.execute(
                "INSERT INTO subscriptions (subscriber, selector, post_id)"
                " SELECT e, 'all', 'subscription-' || i FROM unnest($1::text[]) WITH ORDINALITY AS t(e, i)",
                entities,
            )
        await conn.execute("ANALYZE relationships, subscriptions")
    finally:
        await conn.close()


async def delivery_states(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT state, count(*) AS n, sum(attempts) AS attempts,"
            " count(last_error) AS errors FROM deliveries WHERE kind = 'entity'"
            " GROUP BY state"
        )
        errors = await conn.fetch(
            "SELECT last_error, count(*) AS n FROM deliveries"
            " WHERE last_error IS NOT NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 3"
        )
    finally:
        await conn.close()
    return {
        "states": {
            r["state"]: {"rows": r["n"], "attempts": int(r["attempts"] or 0), "errors": r["errors"]}
            for r in rows
        },
        "errors": {r["last_error"]: r["n"] for r in errors},
    }


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a local process, None if it is not visible here."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def backend_pids(dsn: str) -> list[int]:
    """PostgreSQL backends connected to our database (local ones show up in /proc)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return [r["pid"] for r in rows]


def cpu_snapshot(pids: dict[str, list[int]]) -> dict[str, dict[int, float]]:
    """CPU seconds so far of each visible process, by group."""
    out: dict[str, dict[int, float]] = {}
    for who, group in pids.items():
        for pid in group:
            t = cpu_seconds(pid)
            if t is not None:
                out.setdefault(who, {})[pid] = t
    return out


def cpu_used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    """CPU seconds used in between; a process started in between counts from its start."""
    return {
        who: round(sum(t - before.get(who, {}).get(pid, 0.0) for pid, t in group.items()), 3)
        for who, group in after.items()
    }


# -- ours --------------------------------------------------------------------------------


def post_status(url: str, owner: Owner) -> tuple[float, float, dict[str, Any]]:
    """One public status post as the owner app: (time just before, time of the answer, the post)."""
    text = "Fan-out benchmark: one public status to every subscriber."
    body = json.dumps(
        {"type": STATUS_TYPE, "permissions": {"public": True}, "content": {"text": text}}
    ).encode()
    content_type = f'{POST_MEDIA_TYPE}; type="{STATUS_TYPE}"'
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": content_type,
            "Accept": POST_MEDIA_TYPE,
            "Authorization": owner.authorization("POST", url, body, content_type),
        },
    )
    t0 = time.time()
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            answer = resp.read()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"new_post answered {exc.code}: {exc.read().decode(errors='replace')}") from None
    return t0, time.time(), json.loads(answer)["post"]


# -- the floor ---------------------------------------------------------------------------


async def floor_fanout(recv_port: int, peers: int, post: dict[str, Any]) -> dict[str, Any]:
    """The same PUTs from a bare aiohttp client, at most CONCURRENCY at a time, each to a URL
    expanded from the peer's template and signed with that peer's credentials, as ours does; the
    clock runs from the start to the last response (expanding and signing included)."""
    import aiohttp
    from yarl import URL

    body = notification_body(post)  # the post our server answered with, as peers are sent it
    content_type = media.post_media_type(post["type"], media.REL_NOTIFICATION)
    creds = [Credentials(f"peer{n}", secrets.token_hex(32), "sha256") for n in range(1, peers + 1)]
    templates = [peer_entity(recv_port, n) + "/posts/{entity}/{post}" for n in range(1, peers + 1)]
    statuses: Counter[int] = Counter()
    gate = asyncio.Semaphore(CONCURRENCY)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:

        async def put(i: int) -> None:
            async with gate:
                url = uritemplate.expand(templates[i], entity=post["entity"], post=post["id"])
                headers = {
                    "Content-Type": content_type,
                    "Authorization": sign_request(
                        creds[i], method="PUT", url=url, content=body, content_type=content_type
                    ),
                }
                async with session.put(URL(url, encoded=True), data=body, headers=headers) as resp:
                    await resp.read()
                    statuses[resp.status] += 1

        t0 = time.time()
        await asyncio.gather(*(put(i) for i in range(peers)))
        t1 = time.time()
    return {"start": t0, "end": t1, "statuses": dict(statuses), "body_bytes": len(body)}


def run_floor(recv_port: int, peers: int, post: dict[str, Any]) -> dict[str, Any]:
    loop_factory = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(floor_fanout(recv_port, peers, post))


# -- the run -----------------------------------------------------------------------------


def bench(args: argparse.Namespace, workdir: Path, cleanups: list[Callable[[], object]]) -> int:
    from tent.store import db

    admin_url = os.environ.get("TENT_BENCH_DATABASE_URL") or os.environ.get("TENT_TEST_DATABASE_URL")
    if not admin_url:
        print("starting an embedded PostgreSQL (set TENT_BENCH_DATABASE_URL to use another)")
        admin_url, handle = db.start_embedded(workdir / "pg")
        cleanups.append(handle.cleanup)
    name = f"tent_bench_fanout_{uuid.uuid4().hex[:10]}"
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    cleanups.append(lambda: asyncio.run(admin(admin_url, drop)))
    asyncio.run(admin(admin_url, f'CREATE DATABASE "{name}"'))
    dsn = with_database(admin_url, name)

    recv_port, port = free_port(), free_port()
    receiver = start(
        "receiver",
        [sys.executable, str(Path(__file__).resolve()), "--receiver", str(recv_port)],
        {},
        recv_port,
        workdir,
    )
    cleanups.append(lambda: stop(receiver))
    wait_ready(receiver, "/stats")

    entity = f"http://127.0.0.1:{port}"
    tent_env = {
        "TENT_DATABASE_URL": dsn,
        "TENT_PORT": str(port),
        "TENT_HOST": "127.0.0.1",
        "TENT_ENTITY": entity,
        "TENT_ALLOW_PRIVATE_ADDRESSES": "1",
    }
    done = subprocess.run(
        tent_command("migrate"),
        env=clean_env(tent_env),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"tent migrate failed ({done.returncode}):\n{done.stderr}")
    t0 = time.monotonic()
    asyncio.run(seed_peers(dsn, recv_port, args.peers))
    print(
        f"seeded {args.peers:,} peers (relationship + subscription to `all`) in "
        f"{time.monotonic() - t0:.2f} s; receiver on port {recv_port}"
    )
    owner = owner_credentials(tent_env, workdir)

    ours = start("ours", tent_command("serve"), tent_env, port, workdir)
    cleanups.append(lambda: stop(ours))
    started = wait_ready(ours, "/")
    new_post = discover_endpoints(ours)["new_post"]
    rss = {"idle": rss_mb(ours.proc.pid)}
    print(f"tent serve started in {started:.2f} s, RSS {rss['idle']:.1f} MB")

    profiler = start_profiler(ours.proc.pid, workdir, args.native) if args.profile else None
    if profiler:
        cleanups.append(lambda: profiler[0].poll() is None and profiler[0].kill())
    pids = {
        "tent serve": [ours.proc.pid],
        "receiver": [receiver.proc.pid],
        "postgres": asyncio.run(backend_pids(dsn)),
    }
    cpu_before = cpu_snapshot(pids)
    posted_at, answered_at, post = post_status(new_post, owner)
    brief = wait_all(receiver.base_url, args.peers, posted_at, [ours, receiver], dsn)
    cpu_after = cpu_snapshot(pids)
    pids["postgres"] = asyncio.run(backend_pids(dsn))  # the pool opens connections as it needs them
    cpu_after["postgres"] = {
        **cpu_snapshot({"postgres": pids["postgres"]}).get("postgres", {}),
        **cpu_after.get("postgres", {}),
    }
    cpu = cpu_used(cpu_before, cpu_after)
    profile = stop_profiler(profiler, PROFILE) if profiler else {}
    rss["after"] = rss_mb(ours.proc.pid)
    settle_until = time.monotonic() + SETTLE_S
    while True:  # every outcome recorded: no delivery row left pending (or the wait is over)
        states = asyncio.run(delivery_states(dsn))
        if "pending" not in states["states"] or time.monotonic() > settle_until:
            break
        time.sleep(0.1)
    stats = receiver_stats(receiver.base_url)
    counts = {int(n): c for n, c in stats["per_peer_counts"].items()}
    missing = [n for n in range(1, args.peers + 1) if n not in counts]
    duplicates = {n: c for n, c in counts.items() if c > 1}
    ours_result = {
        "posted_at": posted_at,
        "post_answered_s": round(answered_at - posted_at, 4),
        "first_arrival_s": round(stats["first"] - posted_at, 4) if stats["first"] else None,
        "last_arrival_s": round(brief["last"] - posted_at, 4) if brief["last"] else None,
        "deliveries_per_s": round(args.peers / (brief["last"] - posted_at), 1) if not missing else 0.0,
        "peers_reached": len(counts),
        "requests": stats["count"],
        "signed": stats["signed"],
        "missing": len(missing),
        "duplicates": sum(c - 1 for c in duplicates.values()),
        "peers_with_duplicates": len(duplicates),
        "body_bytes": stats["bytes"] // max(stats["count"], 1),
        "deliveries_table": states,
        "rss_mb": rss,
        "cpu_s": cpu,
    }
    print(
        f"ours: {len(counts):,}/{args.peers:,} peers, {stats['count']:,} requests "
        f"({stats['signed']:,} signed), POST answered in {ours_result['post_answered_s'] * 1000:.0f} ms"
    )
    print(
        "CPU seconds from the post to the last arrival: "
        + ", ".join(f"{who} {t:.2f}" for who, t in cpu.items())
    )

    receiver_reset(receiver.base_url)
    floor = run_floor(recv_port, args.peers, post)
    fstats = receiver_stats(receiver.base_url)
    fcounts = {int(n): c for n, c in fstats["per_peer_counts"].items()}
    floor_s = floor["end"] - floor["start"]
    floor_result = {
        "seconds": round(floor_s, 4),
        "deliveries_per_s": round(args.peers / floor_s, 1),
        "last_arrival_s": round(fstats["last"] - floor["start"], 4) if fstats["last"] else None,
        "first_arrival_s": round(fstats["first"] - floor["start"], 4) if fstats["first"] else None,
        "peers_reached": len(fcounts),
        "requests": fstats["count"],
        "signed": fstats["signed"],
        "statuses": floor["statuses"],
        "body_bytes": floor["body_bytes"],
    }

    # More rounds (a fresh post each time) against the same peers: one fan-out of 1,000 takes
    # a few tenths of a second, so a single round is at the mercy of the machine's noise.
    rounds = [(ours_result["deliveries_per_s"], floor_result["deliveries_per_s"])]
    # Each round's timeline, in seconds from the POST (ours) or the start (floor): where a slow
    # round lost its time.
    timelines = [
        (
            (ours_result["post_answered_s"], ours_result["first_arrival_s"], ours_result["last_arrival_s"]),
            (floor_result["first_arrival_s"], floor_result["last_arrival_s"]),
        )
    ]
    for _ in range(args.rounds - 1):
        receiver_reset(receiver.base_url)
        posted_at, answered_at, extra = post_status(new_post, owner)
        brief = wait_all(receiver.base_url, args.peers, posted_at, [ours, receiver], dsn)
        last = brief["last"]
        got = receiver_stats(receiver.base_url, brief=True)["count"]
        if got < args.peers or not last:
            missing = missing or [0]
        ours_rate = args.peers / (last - posted_at) if last else 0.0
        receiver_reset(receiver.base_url)
        extra_floor = run_floor(recv_port, args.peers, extra)
        fbrief = receiver_stats(receiver.base_url, brief=True)
        rounds.append((ours_rate, args.peers / (extra_floor["end"] - extra_floor["start"])))
        timelines.append(
            (
                (
                    round(answered_at - posted_at, 4),
                    round(brief["first"] - posted_at, 4) if brief["first"] else None,
                    round(last - posted_at, 4) if last else None,
                ),
                (
                    round(fbrief["first"] - extra_floor["start"], 4) if fbrief["first"] else None,
                    round(fbrief["last"] - extra_floor["start"], 4) if fbrief["last"] else None,
                ),
            )
        )
    ours_result["rounds_deliveries_per_s"] = [round(r[0], 1) for r in rounds]
    floor_result["rounds_deliveries_per_s"] = [round(r[1], 1) for r in rounds]
    ours_result["rounds_post_first_last_s"] = [t[0] for t in timelines]
    floor_result["rounds_first_last_s"] = [t[1] for t in timelines]
    ours_result["deliveries_per_s"] = round(statistics.median(r[0] for r in rounds), 1)
    floor_result["deliveries_per_s"] = round(statistics.median(r[1] for r in rounds), 1)

    result = report(args.peers, ours_result, floor_result, profile)
    result.update(
        config={
            "peers": args.peers,
            "concurrency": CONCURRENCY,
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "profiled": bool(profile),
        },
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(BENCH_DIR.parent)}")
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} peers never got the post (e.g. p{missing[0]}); "
            f"deliveries: {states}\n{log_tail(ours)}"
        )
    if len(fcounts) != args.peers or set(floor["statuses"]) != {200}:
        problems.append(f"the floor reached {len(fcounts)} peers, statuses {floor['statuses']}")
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


def report(
    peers: int, ours: dict[str, Any], floor: dict[str, Any], profile: dict[str, Any]
) -> dict[str, Any]:
    ratio = ours["deliveries_per_s"] / floor["deliveries_per_s"] if floor["deliveries_per_s"] else 0.0
    verdict = "ok" if ratio >= TARGET else "MISS"
    print()
    print(f"{peers:,} peers, {CONCURRENCY} concurrent {'deliveries/s':>14} {'last s':>8} {'first s':>8}")
    print(
        f"{'ours (post -> last arrival)':32} {ours['deliveries_per_s']:>14,.0f} "
        f"{ours['last_arrival_s'] or 0:>8.3f} {ours['first_arrival_s'] or 0:>8.3f}"
    )
    print(
        f"{'floor (bare aiohttp client)':32} {floor['deliveries_per_s']:>14,.0f} "
        f"{floor['seconds']:>8.3f} {floor['first_arrival_s'] or 0:>8.3f}"
    )
    print(f"{'ours/floor':32} {ratio:>14.2f}   target >= {TARGET} {verdict}")
    if len(ours.get("rounds_deliveries_per_s", [])) > 1:
        print(
            f"medians of {len(ours['rounds_deliveries_per_s'])} rounds; ours "
            f"{ours['rounds_deliveries_per_s']}, floor {floor['rounds_deliveries_per_s']}"
        )
        print("each round, ours POST answered / first / last arrival s; floor first / last s:")
        for (answered, first, last), (ffirst, flast) in zip(
            ours["rounds_post_first_last_s"], floor["rounds_first_last_s"], strict=True
        ):
            print(
                f"  ours {answered:.3f} / {first or 0:.3f} / {last or 0:.3f}"
                f"   floor {ffirst or 0:.3f} / {flast or 0:.3f}"
            )
    print(f"duplicates: {ours['duplicates']} (at-least-once), missing: {ours['missing']}")
    print_profile("tent serve during the fan-out", profile)
    return {
        "ours": ours,
        "floor": floor,
        "ratio": round(ratio, 3),
        "target": TARGET,
        "met": ratio >= TARGET,
        "profile": profile,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", type=int, default=1000, help="subscribed peers (default 1000)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="fan-outs measured, ours and floor each; medians are reported (default 5)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="record `tent serve` with py-spy during the fan-out (slows it down)",
    )
    parser.add_argument(
        "--native",
        action="store_true",
        help="with --profile: native frames too (py-spy "
        "--native: C extensions such as asyncpg, uvloop, orjson show up by name)",
    )
    parser.add_argument("--receiver", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        run_receiver(args.receiver)
        return 0
    if args.peers < 1:
        parser.error("--peers must be at least 1")
    return run_cleaning_up(bench, args, "tent-fanout-")


if __name__ == "__main__":
    sys.exit(main())
