"""new_post and posts_feed throughput of `tent serve`, beside a bare aiohttp + asyncpg floor.

    .venv/bin/python bench/bench_posts.py [--duration 10] [--connections 32] [--posts 100000]

PostgreSQL: TENT_BENCH_DATABASE_URL, else TENT_TEST_DATABASE_URL, else an embedded one. Two
fresh databases are created there and dropped at the end. Needs `wrk` on the PATH. Prints a
table and writes it as JSON to bench/results/latest.json. See bench/README.md.

Our server is driven as the owner's app would drive it: owner credentials from
`tent credentials --json`, every request Hawk-signed with its own nonce. The floor stays
unauthenticated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from tent.auth.hawk import Credentials, sign_request, verify_response
from tent.core.posts import build_new_post, now_ms
from tent.store import db
from tent.store.db import Database
from tent.store.posts import PostStore

BENCH_DIR = Path(__file__).resolve().parent
LUA_SCRIPT = BENCH_DIR / "requests.lua"
RESULTS = BENCH_DIR / "results" / "latest.json"
WRK_THREADS = 2
STATUS_TYPE = "https://tent.io/types/status/v0#"
POST_MEDIA_TYPE = "application/vnd.tent.post.v0+json"
FEED_MEDIA_TYPE = "application/vnd.tent.posts-feed.v0+json"
META_REL = "https://tent.io/rels/meta-post"
TARGETS = {"new_post": 0.4, "feed": 0.5}  # minimum ours/floor req/s
RSS_TARGET_MB = 20.0  # ours idle RSS at most this much above the floor's
SEED_TASKS = 8
SEED_CHUNK = 500  # posts per transaction while seeding
# Hawk: the server refuses a ts more than 60 s from its clock and a nonce it has seen, so
# signed lines are made right before each run, one per request wrk can send in it.
MAX_DURATION_S = 50
SIGNED_MARGIN = 1.5  # signed lines per request the floor managed in the same time
MIN_SIGNED = 5_000
UNSIGNED_PER_S = 8_000  # the floor's lines per second of run (unsigned: reusing them is harmless)


@dataclass(frozen=True)
class Owner:
    """The owner app's Hawk credentials, as `tent credentials --json` prints them."""

    entity: str
    app_id: str
    credentials: Credentials

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Owner:
        return cls(data["entity"], data["app_id"],
                   Credentials(data["id"], data["hawk_key"], data.get("hawk_algorithm", "sha256")))

    def authorization(self, method: str, url: str, body: bytes | None = None,
                      content_type: str | None = None) -> str:
        """`Authorization` for `method url`: `url` must be the full URL as sent (host, port, query)."""
        return sign_request(self.credentials, method=method, url=url, content=body,
                            content_type=content_type, app=self.app_id)


# -- the requests wrk sends --------------------------------------------------------------


def make_request(kind: str, url: str, i: int, owner: Owner | None = None) -> dict[str, Any]:
    """Request `i` of `kind` for the endpoint `url`; signed as the owner's app when `owner` is given.

    The MAC covers the request as wrk sends it: the method, the path and query (`/posts?limit=25`),
    the host and port of `url` (wrk connects there and sends them as `Host`, set here explicitly
    all the same) and, for a post, the hash of the body bytes and Content-Type. `sign_request`
    makes a fresh random nonce and takes the current time as `ts`.
    """
    parts = urllib.parse.urlsplit(url)
    path = parts.path or "/"
    if kind == "feed":
        path += "?limit=25"
    full_url = f"{parts.scheme}://{parts.netloc}{path}"
    body: str | None = None
    if kind == "new_post":
        body = json.dumps({"type": STATUS_TYPE,
                           "content": {"text": f"Benchmark status {i}: a short post, like most."}})
        headers = {"Content-Type": f'{POST_MEDIA_TYPE}; type="{STATUS_TYPE}"', "Accept": POST_MEDIA_TYPE}
        method = "POST"
    else:
        headers = {"Accept": FEED_MEDIA_TYPE}
        method = "GET"
    if owner is not None:
        headers["Host"] = parts.netloc
        headers["Authorization"] = owner.authorization(
            method, full_url, body.encode() if body is not None else None, headers.get("Content-Type"))
    out: dict[str, Any] = {"method": method, "path": path, "headers": headers}
    if body is not None:
        out["body"] = body
    return out


def make_requests(kind: str, url: str, count: int, owner: Owner | None = None) -> list[dict[str, Any]]:
    """The requests wrk replays (bench/requests.lua), all different from each other.

    With `owner`, each is Hawk-signed with its own nonce and the current time: make them right
    before the run (the server accepts a ts within 60 s of its clock) and at least as many as
    wrk will send (a replayed nonce is refused with 403).
    """
    return [make_request(kind, url, i, owner) for i in range(count)]


def write_requests(path: Path, requests: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in requests))
    return path


# -- processes ---------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    base_url: str
    started: float = field(default_factory=time.monotonic)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(env: dict[str, str]) -> dict[str, str]:
    """The bench's environment without inherited TENT_*/FLOOR_* settings, plus `env`."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("TENT_", "FLOOR_"))}
    full_env.update(env)
    return full_env


def start(name: str, cmd: list[str], env: dict[str, str], port: int, workdir: Path) -> Process:
    """Start a server with a clean environment (no inherited TENT_* settings)."""
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=clean_env(env), stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    return Process(name, proc, log, f"http://127.0.0.1:{port}")


def owner_credentials(env: dict[str, str], workdir: Path) -> Owner:
    """`tent credentials --json` in the environment `tent serve` gets, as the black-box tools do."""
    done = subprocess.run(tent_command("credentials", "--json"), env=clean_env(env), cwd=workdir,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"tent credentials failed ({done.returncode}):\n{done.stderr}")
    try:
        return Owner.from_json(json.loads(done.stdout))
    except (ValueError, KeyError, TypeError) as exc:
        raise RuntimeError(f"tent credentials printed {done.stdout!r}: {exc!r}") from None


def log_tail(p: Process, lines: int = 20) -> str:
    return "\n".join(p.log.read_text(errors="replace").splitlines()[-lines:])


def http_get(url: str, accept: str = "*/*", owner: Owner | None = None) -> tuple[dict[str, str], bytes]:
    """GET `url`; signed as the owner's app when `owner` is given, the response signature checked."""
    headers = {"Accept": accept}
    if owner is not None:
        headers["Authorization"] = owner.authorization("GET", url)
    req = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(req, timeout=10) as resp:
        got, body = dict(resp.headers), resp.read()
    if owner is not None and not verify_response(
            got.get("Server-Authorization", ""), headers["Authorization"], owner.credentials, method="GET",
            url=url, content=body or None, content_type=got.get("Content-Type") if body else None):
        raise RuntimeError(f"GET {url}: missing or wrong Server-Authorization "
                           f"{got.get('Server-Authorization')!r}")
    return got, body


def check_signed(p: Process, kind: str, url: str, owner: Owner) -> None:
    """One signed request of `kind` outside wrk, so an auth failure shows the server's reason."""
    r = make_request(kind, url, -1, owner)
    parts = urllib.parse.urlsplit(url)
    body = r["body"].encode() if "body" in r else None
    headers = {k: v for k, v in r["headers"].items() if k != "Host"}  # urllib sends the same Host
    req = urllib.request.Request(f"{parts.scheme}://{parts.netloc}{r['path']}", data=body, headers=headers,
                                 method=r["method"])
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            if "Server-Authorization" not in resp.headers:
                raise RuntimeError(f"{p.name}: signed {kind} answered without Server-Authorization")
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{p.name}: signed {kind} answered {exc.code}: "
                           f"{exc.read().decode(errors='replace')}\n{log_tail(p)}") from None


def wait_ready(p: Process, path: str, timeout: float = 30.0) -> float:
    """Poll until the server answers 2xx; returns the seconds since it was started."""
    while True:
        if p.proc.poll() is not None:
            raise RuntimeError(f"{p.name} exited with {p.proc.returncode}:\n{log_tail(p)}")
        try:
            http_get(p.base_url + path)
            return time.monotonic() - p.started
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{p.name}: GET {path} answered {exc.code}:\n{log_tail(p)}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() - p.started > timeout:
                raise RuntimeError(f"{p.name} did not answer within {timeout} s:\n{log_tail(p)}") from None
            time.sleep(0.02)


def discover_endpoints(p: Process) -> dict[str, str]:
    """Entity URL -> Link to the meta post -> its endpoint URLs, as a Tent app finds them."""
    headers, _ = http_get(p.base_url + "/")
    match = re.search(r'<([^>]+)>\s*;\s*rel="' + re.escape(META_REL) + '"', headers.get("Link", ""))
    if not match:
        raise RuntimeError(f"{p.name}: no meta post link in {headers.get('Link')!r}")
    _, body = http_get(match.group(1), POST_MEDIA_TYPE)
    urls: dict[str, str] = json.loads(body)["post"]["content"]["servers"][0]["urls"]
    return urls


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def stop(p: Process) -> None:
    if p.proc.poll() is None:
        p.proc.terminate()
        try:
            p.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.proc.kill()
            p.proc.wait()


# -- load --------------------------------------------------------------------------------


@dataclass
class Run:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    responses: int
    non2xx: dict[str, int] = field(default_factory=dict)
    socket_errors: dict[str, int] = field(default_factory=dict)
    wrapped: int = 0

    @property
    def failed(self) -> bool:
        return bool(self.non2xx) or any(self.socket_errors.values()) or self.responses == 0


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _latency_ms(text: str, percent: int) -> float:
    match = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    if not match:
        raise RuntimeError(f"no {percent}% latency in wrk output:\n{text}")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def parse_wrk(text: str) -> Run:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    mine = re.search(r"^BENCH_RESULT (.*)$", text, re.M)
    if not rps or not mine:
        raise RuntimeError(f"unexpected wrk output:\n{text}")
    extra = json.loads(mine.group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    socket_errors = dict(zip(("connect", "read", "write", "timeout"),
                             (int(n) for n in errors.groups()), strict=True)) if errors else {}
    return Run(float(rps.group(1)), _latency_ms(text, 50), _latency_ms(text, 99), extra["responses"],
               extra["non2xx"], socket_errors, extra["wrapped"])


def run_wrk(url: str, requests_file: Path, args: argparse.Namespace) -> Run:
    cmd = ["wrk", f"-t{WRK_THREADS}", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
           "-s", str(LUA_SCRIPT), url, "--", str(requests_file), str(WRK_THREADS)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 120)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return parse_wrk(done.stdout)


# -- databases ---------------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    """Same server, other database (works for host:port URLs and socket `?host=` URLs)."""
    base, sep, query = url.partition("?")
    scheme, _, rest = base.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/{name}{sep}{query}"


async def admin(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


async def seed_ours(dsn: str, entity: str, target: int) -> int:
    """Top the server's database up to `target` posts through the package's own code path."""
    pool = await db.create_pool(dsn, SEED_TASKS)
    try:
        database = Database(pool)
        store = PostStore(database)
        missing = max(0, target - await pool.fetchval("SELECT count(*) FROM posts"))
        base = now_ms() - missing  # one distinct received_at per post

        async def worker(k: int) -> None:
            mine = range(k, missing, SEED_TASKS)
            for start in range(0, len(mine), SEED_CHUNK):
                async with database.transaction():
                    for i in mine[start:start + SEED_CHUNK]:
                        body = {"type": STATUS_TYPE, "content": {"text": f"Seed status {i}"}}
                        await store.create(build_new_post(body, entity=entity, now=base + i))

        await asyncio.gather(*(worker(k) for k in range(SEED_TASKS)))
        return missing
    finally:
        await pool.close()


_FLOOR_SEED = """
INSERT INTO posts (received_at, data)
SELECT $2::bigint + i, jsonb_build_object(
    'id', md5(i::text), 'entity', $3::text, 'type', $4::text,
    'content', jsonb_build_object('text', 'Seed status ' || i),
    'published_at', $2::bigint + i, 'received_at', $2::bigint + i,
    'version', jsonb_build_object('id', encode(sha256(i::text::bytea), 'hex'),
                                  'published_at', $2::bigint + i, 'received_at', $2::bigint + i))
FROM generate_series(1, $1::int) AS i
"""


async def seed_floor(dsn: str, entity: str, target: int) -> int:
    """The same number of rows, shaped like our stored posts, with one INSERT ... SELECT."""
    conn = await asyncpg.connect(dsn)
    try:
        missing = max(0, target - await conn.fetchval("SELECT count(*) FROM posts"))
        await conn.execute(_FLOOR_SEED, missing, now_ms() - missing, entity, STATUS_TYPE)
        return missing
    finally:
        await conn.close()


# -- report ------------------------------------------------------------------------------


def _fmt_run(r: Run) -> str:
    return f"{r.requests_per_s:>9,.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f}"


def report(runs: dict[str, dict[str, Run]], rss: dict[str, dict[str, float]]) -> dict[str, Any]:
    print()
    print(f"{'':10} {'ours':>27}   {'floor':>27}")
    print(f"{'endpoint':10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}   {'req/s':>9} {'p50 ms':>8}"
          f" {'p99 ms':>8}   {'ours/floor':>10}  target")
    out: dict[str, Any] = {"endpoints": {}, "rss_mb": rss}
    for name, pair in runs.items():
        ours, floor = pair["ours"], pair["floor"]
        ratio = ours.requests_per_s / floor.requests_per_s if floor.requests_per_s else 0.0
        verdict = "ok" if ratio >= TARGETS[name] else "MISS"
        print(f"{name:10} {_fmt_run(ours)}   {_fmt_run(floor)}   {ratio:>10.2f}"
              f"  >= {TARGETS[name]} {verdict}")
        out["endpoints"][name] = {"ours": asdict(ours), "floor": asdict(floor), "ratio": round(ratio, 3),
                                  "target": TARGETS[name], "met": ratio >= TARGETS[name]}
    print()
    print(f"{'RSS MB':10} {'idle':>8} {'after':>8} {'growth':>8}")
    for who in ("ours", "floor"):
        r = rss[who]
        print(f"{who:10} {r['idle']:>8.1f} {r['after']:>8.1f} {r['after'] - r['idle']:>8.1f}")
    diff = {k: rss["ours"][k] - rss["floor"][k] for k in ("idle", "after")}
    verdict = "ok" if diff["idle"] <= RSS_TARGET_MB else "MISS"
    print(f"{'ours-floor':10} {diff['idle']:>8.1f} {diff['after']:>8.1f}"
          f"{'':9}  idle target <= {RSS_TARGET_MB:.0f} MB {verdict}")
    out["rss_mb"] = {**rss, "ours_minus_floor": diff, "idle_target": RSS_TARGET_MB,
                     "idle_met": diff["idle"] <= RSS_TARGET_MB}
    return out


# -- the run -----------------------------------------------------------------------------


def tent_command(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "tent"
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "tent", *args]


def bench(args: argparse.Namespace, workdir: Path, cleanups: list[Callable[[], object]]) -> int:
    admin_url = os.environ.get("TENT_BENCH_DATABASE_URL") or os.environ.get("TENT_TEST_DATABASE_URL")
    if not admin_url:
        print("starting an embedded PostgreSQL (set TENT_BENCH_DATABASE_URL to use another)")
        admin_url, handle = db.start_embedded(workdir / "pg")
        cleanups.append(handle.cleanup)
    tag = uuid.uuid4().hex[:10]
    names = {"ours": f"tent_bench_ours_{tag}", "floor": f"tent_bench_floor_{tag}"}
    for name in names.values():
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        cleanups.append(lambda sql=drop: asyncio.run(admin(admin_url, sql)))
        asyncio.run(admin(admin_url, f'CREATE DATABASE "{name}"'))
    dsn = {who: with_database(admin_url, name) for who, name in names.items()}

    ports = {"ours": free_port(), "floor": free_port()}
    entity = f"http://127.0.0.1:{ports['ours']}"
    tent_env = {"TENT_DATABASE_URL": dsn["ours"], "TENT_PORT": str(ports["ours"]),
                "TENT_HOST": "127.0.0.1", "TENT_ENTITY": entity, "TENT_WORKERS": str(args.workers)}
    owner = owner_credentials(tent_env, workdir)
    procs = {
        "ours": start("ours", tent_command("serve"), tent_env, ports["ours"], workdir),
        "floor": start("floor", [sys.executable, str(BENCH_DIR / "floor.py")], {
            "FLOOR_DATABASE_URL": dsn["floor"], "FLOOR_PORT": str(ports["floor"])}, ports["floor"], workdir),
    }
    for p in procs.values():
        cleanups.append(lambda p=p: stop(p))
    started = {"ours": wait_ready(procs["ours"], "/"), "floor": wait_ready(procs["floor"], "/posts")}
    urls = discover_endpoints(procs["ours"])
    endpoints = {"ours": {"new_post": urls["new_post"], "feed": urls["posts_feed"]},
                 "floor": {"new_post": procs["floor"].base_url + "/posts",
                           "feed": procs["floor"].base_url + "/posts"}}
    rss: dict[str, dict[str, float]] = {}
    as_whom = {"ours": owner, "floor": None}
    for who, p in procs.items():
        http_get(endpoints[who]["feed"], FEED_MEDIA_TYPE, as_whom[who])  # warm-up (ours: signed)
        rss[who] = {"idle": rss_mb(p.proc.pid)}
    print(f"started in {started['ours']:.2f} s (ours), {started['floor']:.2f} s (floor); "
          f"wrk -t{WRK_THREADS} -c{args.connections} -d{args.duration}s; ours as owner app {owner.app_id}")

    runs: dict[str, dict[str, Run]] = {"new_post": {}, "feed": {}}
    signing: dict[str, dict[str, float]] = {}

    def measure(kind: str) -> None:
        for who in ("floor", "ours"):  # the floor first: its rate sizes our signed lines
            url = endpoints[who][kind]
            if kind == "feed":  # a fast answer must still be the right one (ours: the owner's view)
                got = len(json.loads(http_get(url + "?limit=25", FEED_MEDIA_TYPE, as_whom[who])[1])["posts"])
                if got != 25:
                    raise RuntimeError(f"{who}: the feed returned {got} posts, not 25")
            if who == "ours":
                check_signed(procs[who], kind, url, owner)
                expected = runs[kind]["floor"].requests_per_s * args.duration
                count = max(MIN_SIGNED, int(expected * SIGNED_MARGIN))
            else:
                count = max(1000, args.duration * UNSIGNED_PER_S)
            t0 = time.monotonic()  # signed right before the run: every ts is fresh when sent
            requests = make_requests(kind, url, count, as_whom[who])
            made_s = time.monotonic() - t0
            file = write_requests(workdir / f"{who}-{kind}.jsonl", requests)
            del requests
            if who == "ours":
                signing[kind] = {"requests": count, "seconds": round(made_s, 3)}
                print(f"{kind:9} {who:6} signed {count:,} requests in {made_s:.2f} s "
                      f"({count / max(made_s, 1e-9):,.0f}/s)")
            run = runs[kind][who] = run_wrk(url, file, args)
            age = time.monotonic() - t0
            print(f"{kind:9} {who:6} {run.requests_per_s:>9,.0f} req/s  p50 {run.p50_ms:.2f} ms"
                  f"  p99 {run.p99_ms:.2f} ms  ({run.responses:,} responses)")
            hint = ""
            if who == "ours" and run.responses > count:
                hint = f" (wrk sent {run.responses:,} requests, only {count:,} were signed: nonces replayed)"
            elif who == "ours":
                hint = f" (signed lines were up to {age:.0f} s old by the end: over 60 s gives 401)"
            if run.failed:
                print(f"  ERRORS: non-2xx {run.non2xx}, socket {run.socket_errors}, "
                      f"{run.responses} responses{hint}\n{log_tail(procs[who])}")

    measure("new_post")
    t0 = time.monotonic()
    seeded = asyncio.run(seed_ours(dsn["ours"], entity, args.posts))
    seed_s = time.monotonic() - t0
    asyncio.run(seed_floor(dsn["floor"], procs["floor"].base_url, args.posts))
    for who in ("ours", "floor"):
        asyncio.run(admin(dsn[who], "VACUUM ANALYZE"))
    print(f"seeded ours with {seeded:,} posts in {seed_s:.1f} s ({seeded / max(seed_s, 1e-9):,.0f}/s)")
    measure("feed")
    for who, p in procs.items():
        rss[who]["after"] = rss_mb(p.proc.pid)

    result = report(runs, rss)
    result.update(config={"duration_s": args.duration, "connections": args.connections,
                          "wrk_threads": WRK_THREADS, "posts": args.posts, "cpus": os.cpu_count(),
                          "python": sys.version.split()[0]},
                  start_s=started, seed={"posts": seeded, "seconds": round(seed_s, 2)},
                  auth={"ours": "Hawk, owner app from `tent credentials --json`", "floor": "none"},
                  signing=signing,
                  measured_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(BENCH_DIR.parent)}")
    wrapped = [f"{kind} {who}" for kind, pair in runs.items() for who, r in pair.items() if r.wrapped]
    if wrapped:  # harmless for the unsigned floor; for ours, the replays were answered 403
        print(f"note: wrk reused prepared requests in: {', '.join(wrapped)}")
    failed = [f"{kind} {who}" for kind, pair in runs.items() for who, r in pair.items() if r.failed]
    if failed:
        print(f"FAILED: requests got errors in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10,
                        help=f"seconds per wrk run (default 10, at most {MAX_DURATION_S}: Hawk timestamps "
                             "must stay within 60 s of the server's clock)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--posts", type=int, default=100_000, help="posts in each database for the feed")
    parser.add_argument("--workers", type=int, default=1, help="`tent serve --workers` for ours (default 1)")
    args = parser.parse_args()
    if not 1 <= args.duration <= MAX_DURATION_S:
        parser.error(f"--duration must be between 1 and {MAX_DURATION_S} seconds")
    if shutil.which("wrk") is None:
        print("wrk is not installed; on Debian/Ubuntu: apt-get install -y wrk", file=sys.stderr)
        return 2
    return run_cleaning_up(bench, args, "tent-bench-")


Bench = Callable[[argparse.Namespace, Path, list[Callable[[], object]]], int]


def run_cleaning_up(bench_fn: Bench, args: argparse.Namespace, prefix: str) -> int:
    """Run a benchmark in a scratch directory; whatever it started is stopped and dropped
    afterwards (processes first, then databases, then PostgreSQL), also on Ctrl-C/SIGTERM."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up as on Ctrl-C
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    cleanups: list[Callable[[], object]] = []
    try:
        return bench_fn(args, workdir, cleanups)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, asyncpg.PostgresError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for cleanup in reversed(cleanups):
            try:
                cleanup()
            except Exception as exc:
                print(f"cleanup: {exc!r}", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
