"""The hot paths of `tent serve` beside a bare aiohttp + asyncpg floor, in one run.

    .venv/bin/python bench/bench_posts.py [--posts 100000] [--duration 10] [--warmup 5]
        [--connections 32] [--workers 1] [--compare-workers] [--scaling [--scaling-max 1000000]]
        [--profile]

PostgreSQL: TENT_BENCH_DATABASE_URL, else TENT_TEST_DATABASE_URL, else an embedded one. Fresh
databases are created there and dropped at the end. Needs `wrk` on the PATH. Prints a table
and writes it as JSON to bench/results/latest.json. See bench/README.md.

Four scenarios, floor first then ours, each `wrk -t2 -c32 -d10s` after a 5 s warm-up, every
answer's shape checked before timing: a Hawk-signed new_post (payload hash), the anonymous
feed (limit=25), the same feed Hawk-signed, and the anonymous GET of one post. Our signed
requests use owner credentials from `tent credentials --json`, each with its own nonce.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
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
import uritemplate
from profiling import print_profile, start_profiler, stop_profiler

from tent.auth.hawk import Credentials, sign_request, verify_response
from tent.auth.replay import ReplayGuard
from tent.core.feed import FeedQuery, Position
from tent.core.posts import build_new_post, now_ms
from tent.core.principal import ANONYMOUS
from tent.store import db
from tent.store.auth import AuthStore
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
SCENARIOS = ("new_post", "feed", "feed_signed", "one_post")
SIGNED_SCENARIOS = ("new_post", "feed_signed")
TITLES = {
    "new_post": "Hawk-signed new_post (payload hash)",
    "feed": "anonymous feed, limit=25",
    "feed_signed": "the same feed, Hawk-signed",
    "one_post": "anonymous GET of one post",
}
TARGETS = {"new_post": 0.7, "feed": 0.8, "feed_signed": 0.8, "one_post": 0.9}  # ours/floor req/s
P99_FACTOR = 2.0  # ours p99 at most this many times the floor's
START_ROUNDS = 3  # starts of each server: the first, then two restarts after the runs
START_TARGET_S = 0.6  # ours, to the first answer on the loaded database
RSS_TARGET_MB = 10.0  # ours after the runs at most this much above the floor's
SEED_TASKS = 8
SEED_CHUNK = 500  # posts per transaction while seeding
ONE_POST_IDS = 1_000  # distinct posts the one-post scenario cycles through
# Hawk: the server refuses a ts more than 60 s from its clock and a nonce it has seen, so
# signed lines are made right before each wrk run, one per request wrk can send in it.
MAX_DURATION_S = 50
SIGNED_MARGIN = 1.5  # signed lines per request the floor managed in the same time
MIN_SIGNED = 5_000
FLOOR_SIGNED = 20_000  # the floor checks no nonces: its signed lines may be reused
UNSIGNED = 1_000  # unsigned lines (reusing them is harmless)
SCALING_SIZES = (10_000, 100_000, 1_000_000)
SCALING_DURATION_S = 5


@dataclass(frozen=True)
class Owner:
    """The owner app's Hawk credentials, as `tent credentials --json` prints them."""

    entity: str
    app_id: str
    credentials: Credentials

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Owner:
        return cls(
            data["entity"],
            data["app_id"],
            Credentials(data["id"], data["hawk_key"], data.get("hawk_algorithm", "sha256")),
        )

    def authorization(
        self, method: str, url: str, body: bytes | None = None, content_type: str | None = None
    ) -> str:
        """`Authorization` for `method url`: `url` must be the full URL as sent (host, port, query)."""
        return sign_request(
            self.credentials, method=method, url=url, content=body, content_type=content_type, app=self.app_id
        )


# -- the requests wrk sends --------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where one scenario's requests go on one server: a URL, or (one post) a list of them."""

    urls: tuple[str, ...]
    signed: bool

    def url(self, i: int) -> str:
        return self.urls[i % len(self.urls)]


def make_request(kind: str, target: Target, i: int, owner: Owner | None) -> dict[str, Any]:
    """Request `i` of `kind`; Hawk-signed as the owner's app when the target is signed.

    The MAC covers the request as wrk sends it: the method, the path and query, the host and
    port (wrk connects there and sends them as `Host`, set here explicitly all the same) and,
    for a post, the hash of the body bytes and Content-Type. `sign_request` makes a fresh
    random nonce and takes the current time as `ts`.
    """
    url = target.url(i)
    parts = urllib.parse.urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    body: str | None = None
    if kind == "new_post":
        body = json.dumps(
            {"type": STATUS_TYPE, "content": {"text": f"Benchmark status {i}: a short post, like most."}}
        )
        headers = {"Content-Type": f'{POST_MEDIA_TYPE}; type="{STATUS_TYPE}"', "Accept": POST_MEDIA_TYPE}
        method = "POST"
    else:
        headers = {"Accept": POST_MEDIA_TYPE if kind == "one_post" else FEED_MEDIA_TYPE}
        method = "GET"
    if target.signed:
        assert owner is not None
        headers["Host"] = parts.netloc
        headers["Authorization"] = owner.authorization(
            method, url, body.encode() if body is not None else None, headers.get("Content-Type")
        )
    out: dict[str, Any] = {"method": method, "path": path, "headers": headers, "url": url}
    if body is not None:
        out["body"] = body
    return out


def write_requests(path: Path, kind: str, target: Target, count: int, owner: Owner | None) -> Path:
    """The lines wrk replays (bench/requests.lua), all different, each signed with its own nonce
    when the target is signed: make them right before the run (a ts within 60 s of the server's
    clock) and at least as many as wrk will send to ours (a replayed nonce is refused with 403)."""
    with path.open("w") as out:
        for i in range(count):
            out.write(json.dumps(make_request(kind, target, i, owner)) + "\n")
    return path


def send(request: dict[str, Any], owner: Owner | None) -> tuple[int, dict[str, str], bytes]:
    """Send one prepared request outside wrk; a signed one must come back with a valid
    `Server-Authorization` (payload hash included) or this raises."""
    body = request["body"].encode() if "body" in request else None
    headers = {k: v for k, v in request["headers"].items() if k != "Host"}  # urllib sends the same Host
    req = urllib.request.Request(request["url"], data=body, headers=headers, method=request["method"])
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, got, content = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()
    if "Authorization" in headers:
        assert owner is not None
        if not verify_response(
            got.get("Server-Authorization", ""),
            headers["Authorization"],
            owner.credentials,
            method=request["method"],
            url=request["url"],
            content=content or None,
            content_type=got.get("Content-Type") if content else None,
        ):
            raise RuntimeError(
                f"{request['method']} {request['url']}: missing or wrong Server-Authorization "
                f"{got.get('Server-Authorization')!r}"
            )
    return status, got, content


def check_answer(who: str, kind: str, target: Target, owner: Owner | None, log: str = "") -> None:
    """A fast answer must still be the right one: status, 25 posts, the post asked for, and a
    valid Server-Authorization where signed. Raises on anything else."""
    request = make_request(kind, target, 0, owner)
    status, _, body = send(request, owner)
    if not 200 <= status < 300:
        raise RuntimeError(f"{who} {kind}: {request['url']} answered {status}: {body[:300]!r}\n{log}")
    data = json.loads(body)
    if kind in ("feed", "feed_signed") and len(data.get("posts", [])) != 25:
        raise RuntimeError(f"{who} {kind}: the feed returned {len(data.get('posts', []))} posts, not 25")
    if kind in ("new_post", "one_post") and not data.get("post", {}).get("id"):
        raise RuntimeError(f"{who} {kind}: no post in the answer {body[:300]!r}")


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


def compile_bytecode() -> None:
    """Byte-compile the server's modules, as `pip install` does for an installed server: a
    machine that sets PYTHONDONTWRITEBYTECODE would otherwise compile every module of ours
    (and the floor's few) at each start, and the start-up figure would time the compiler."""
    import tent

    for folder in (Path(tent.__file__).parent, BENCH_DIR):
        compileall.compile_dir(folder, quiet=1)


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
    done = subprocess.run(
        tent_command("credentials", "--json"),
        env=clean_env(env),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"tent credentials failed ({done.returncode}):\n{done.stderr}")
    try:
        return Owner.from_json(json.loads(done.stdout))
    except (ValueError, KeyError, TypeError) as exc:
        raise RuntimeError(f"tent credentials printed {done.stdout!r}: {exc!r}") from None


def log_tail(p: Process, lines: int = 20) -> str:
    return "\n".join(p.log.read_text(errors="replace").splitlines()[-lines:])


def http_get(url: str, accept: str = "*/*", owner: Owner | None = None) -> tuple[dict[str, str], bytes]:
    """GET `url` (2xx or raises); signed as the owner's app when `owner` is given, the response
    signature checked."""
    target = Target((url,), signed=owner is not None)
    request = make_request("get", target, 0, owner)
    request["headers"]["Accept"] = accept
    status, headers, body = send(request, owner)
    if not 200 <= status < 300:
        raise urllib.error.HTTPError(url, status, body.decode(errors="replace"), {}, None)  # type: ignore[arg-type]
    return headers, body


def wait_ready(p: Process, path: str, timeout: float = 60.0) -> float:
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
            time.sleep(0.005)


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


def tent_command(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "tent"
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "tent", *args]


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
    server_cpu_us: float = 0.0  # CPU of the server's processes per response
    postgres_cpu_us: float = 0.0  # CPU of every PostgreSQL process per response

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
    socket_errors = (
        dict(zip(("connect", "read", "write", "timeout"), (int(n) for n in errors.groups()), strict=True))
        if errors
        else {}
    )
    return Run(
        float(rps.group(1)),
        _latency_ms(text, 50),
        _latency_ms(text, 99),
        extra["responses"],
        extra["non2xx"],
        socket_errors,
        extra["wrapped"],
    )


_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """utime + stime of one process, in seconds (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * _TICK_S


def _tree(pid: int) -> list[int]:
    """The process and its descendants (`tent serve --workers N` forks its workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        out.append(todo.pop())
        todo.extend(children.get(out[-1], []))
    return out


def _postgres_pids() -> list[int]:
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                pids.append(int(comm.parent.name))
        except OSError:
            continue
    return pids


def cpu_sample(server_pid: int) -> tuple[dict[int, float], dict[int, float]]:
    """CPU seconds so far of the server's processes and of PostgreSQL's, by pid."""
    return {p: _cpu_s(p) for p in _tree(server_pid)}, {p: _cpu_s(p) for p in _postgres_pids()}


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """Seconds spent between two samples (processes that started in between count from 0)."""
    return sum(max(0.0, t - before.get(p, 0.0)) for p, t in after.items())


def run_wrk(url: str, requests_file: Path, connections: int, duration: int) -> Run:
    cmd = [
        "wrk",
        f"-t{WRK_THREADS}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(requests_file),
        str(WRK_THREADS),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return parse_wrk(done.stdout)


@dataclass
class Load:
    """One wrk run of one scenario against one server: lines made right before, errors fatal."""

    args: argparse.Namespace
    workdir: Path
    owner: Owner

    def lines_for(self, who: str, target: Target, duration: int, floor_rate: float | None) -> int:
        if not target.signed:
            return UNSIGNED
        if who == "floor" or floor_rate is None:
            return FLOOR_SIGNED
        return max(MIN_SIGNED, int(floor_rate * duration * SIGNED_MARGIN))

    def run(
        self, p: Process, kind: str, target: Target, duration: int, floor_rate: float | None, label: str
    ) -> Run:
        count = self.lines_for(p.name, target, duration, floor_rate)
        t0 = time.monotonic()  # signed right before the run: every ts is fresh when sent
        file = write_requests(self.workdir / f"{p.name}-{kind}.jsonl", kind, target, count, self.owner)
        made_s = time.monotonic() - t0
        server_before, postgres_before = cpu_sample(p.proc.pid)
        run = run_wrk(target.urls[0], file, self.args.connections, duration)
        server_after, postgres_after = cpu_sample(p.proc.pid)
        if run.responses:
            run.server_cpu_us = round(cpu_spent(server_before, server_after) / run.responses * 1e6, 1)
            run.postgres_cpu_us = round(cpu_spent(postgres_before, postgres_after) / run.responses * 1e6, 1)
        print(
            f"{kind:11} {p.name:6} {label:7} {run.requests_per_s:>9,.0f} req/s  p50 {run.p50_ms:6.2f} ms"
            f"  p99 {run.p99_ms:7.2f} ms  CPU µs/req server {run.server_cpu_us:4.0f} PostgreSQL"
            f" {run.postgres_cpu_us:4.0f}  ({run.responses:,} responses; {count:,} lines in {made_s:.1f} s)"
        )
        if run.failed:
            hint = ""
            if target.signed and p.name != "floor" and run.responses > count:
                hint = f" (wrk sent {run.responses:,} requests, only {count:,} were signed: nonces replayed)"
            raise RuntimeError(
                f"{p.name} {kind}: non-2xx {run.non2xx}, socket errors {run.socket_errors}, "
                f"{run.responses} responses{hint}\n{log_tail(p)}"
            )
        return run

    def measure(
        self, p: Process, kind: str, target: Target, floor_rate: float | None, warm_up: bool = True
    ) -> Run:
        """Check the answer, warm up (first round only), then the timed run."""
        check_answer(p.name, kind, target, self.owner, log_tail(p))
        if self.args.warmup and warm_up:
            self.run(p, kind, target, self.args.warmup, floor_rate, "warm-up")
        return self.run(p, kind, target, self.args.duration, floor_rate, "timed")


def median_run(runs: list[Run]) -> Run:
    """The round with the median throughput, reported whole (its p50, p99 and CPU with it)."""
    ranked = sorted(runs, key=lambda r: r.requests_per_s)
    return ranked[(len(ranked) - 1) // 2]


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
    """Top the server's database up to `target` public status posts through the package's own
    path (`build_new_post` + `PostStore.create`: the rows new_post makes)."""
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
                    for i in mine[start : start + SEED_CHUNK]:
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
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS posts (id bigserial PRIMARY KEY, received_at bigint NOT NULL,"
            " data jsonb NOT NULL); CREATE INDEX IF NOT EXISTS posts_received_at ON posts (received_at)"
        )
        missing = max(0, target - await conn.fetchval("SELECT count(*) FROM posts"))
        await conn.execute(_FLOOR_SEED, missing, now_ms() - missing, entity, STATUS_TYPE)
        return missing
    finally:
        await conn.close()


async def sample_post_ids(dsn: str, count: int) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT post_id FROM posts WHERE latest AND type_base = $1 ORDER BY random() LIMIT $2",
            STATUS_TYPE.split("#")[0],
            count,
        )
        return [r["post_id"] for r in rows]
    finally:
        await conn.close()


async def nonce_check_cost(dsn: str, rounds: int = 2_000, together: int = 32) -> dict[str, float]:
    """µs per shared nonce check (`tent.auth.replay.ReplayGuard` over one INSERT ... ON CONFLICT
    into UNLOGGED hawk_nonces) against a bare `SELECT 1` round trip on one connection: checks
    one after the other (an idle server: one statement each), then `together` at a time (a
    busy one: concurrent checks share a statement, D-87)."""
    pool = await db.create_pool(dsn, 1)
    try:
        guard = ReplayGuard(AuthStore(db.Database(pool)), 120)
        base = random.getrandbits(62)
        t0 = time.perf_counter()
        for _ in range(rounds):
            await pool.fetchval("SELECT 1")
        select_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(rounds):
            assert await guard.first_use(base + i)
        insert_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for start in range(rounds, 2 * rounds, together):
            keys = range(base + start, base + min(start + together, 2 * rounds))
            assert all(await asyncio.gather(*(guard.first_use(k) for k in keys)))
        together_s = time.perf_counter() - t0
        await pool.execute("DELETE FROM hawk_nonces WHERE key >= $1 AND key < $2", base, base + 2 * rounds)
        return {
            "select_1_us": round(select_s / rounds * 1e6, 1),
            "nonce_insert_us": round(insert_s / rounds * 1e6, 1),
            "nonce_together_us": round(together_s / rounds * 1e6, 1),
            "together": together,
        }
    finally:
        await pool.close()


async def explain_feed(dsn: str, entity: str, query: FeedQuery) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the statement `PostStore.feed` sends for `query` to an
    anonymous reader of `entity`, caught with asyncpg's query logger so that the bench never
    restates the store's SQL."""
    seen: list[Any] = []
    pool = await db.create_pool(dsn, 1)
    try:
        async with pool.acquire() as conn:  # the pool's one connection, which the store then uses
            conn.add_query_logger(seen.append)
        store = PostStore(Database(pool))
        await store.feed(query, ANONYMOUS.feed_visibility(entity), private_mentions=False).page()
        await asyncio.sleep(0)  # asyncpg calls query loggers with call_soon, after the query
        async with pool.acquire() as conn:
            conn.remove_query_logger(seen.append)
            feed = next(q for q in reversed(seen) if "FROM posts" in q.query)
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {feed.query}", *feed.args)
        return "\n".join(r[0] for r in rows)
    finally:
        await pool.close()


# -- report ------------------------------------------------------------------------------


def _fmt_run(r: Run) -> str:
    return f"{r.requests_per_s:>8,.0f} {r.p50_ms:>6.1f} / {r.p99_ms:<6.1f}"


def report(runs: dict[str, dict[str, Run]], rounds: dict[str, list[float]] | None = None) -> dict[str, Any]:
    print()
    if rounds and max(len(r) for r in rounds.values()) > 1:
        print("each scenario's median round of each server below; ours/floor round by round:")
        for kind, ratios in rounds.items():
            print(f"  {TITLES[kind]:38} {', '.join(f'{r:.2f}' for r in ratios)}")
        print()
    print(
        f"{'scenario':38} {'floor req/s':>11} {'ours req/s':>11} {'ratio':>6}  "
        f"{'floor p50 / p99 ms':>19}  {'ours p50 / p99 ms':>19}  targets"
    )
    out: dict[str, Any] = {}
    for kind in SCENARIOS:
        if kind not in runs:
            continue
        ours, floor = runs[kind]["ours"], runs[kind]["floor"]
        ratio = ours.requests_per_s / floor.requests_per_s if floor.requests_per_s else 0.0
        p99_ratio = ours.p99_ms / floor.p99_ms if floor.p99_ms else float("inf")
        verdict = (
            f"ratio >= {TARGETS[kind]} {'ok' if ratio >= TARGETS[kind] else 'MISS'}, "
            f"p99 {p99_ratio:.1f}x {'ok' if p99_ratio <= P99_FACTOR else 'MISS'}"
        )
        print(
            f"{TITLES[kind]:38} {floor.requests_per_s:>11,.0f} {ours.requests_per_s:>11,.0f} {ratio:>6.2f}  "
            f"{floor.p50_ms:>8.1f} / {floor.p99_ms:<8.1f}  {ours.p50_ms:>8.1f} / {ours.p99_ms:<8.1f}"
            f"  {verdict}"
        )
        out[kind] = {
            "ours": asdict(ours),
            "floor": asdict(floor),
            "ratio": round(ratio, 3),
            "round_ratios": (rounds or {}).get(kind, []),
            "p99_ratio": round(p99_ratio, 2),
            "target": TARGETS[kind],
            "met": ratio >= TARGETS[kind] and p99_ratio <= P99_FACTOR,
        }
    print()
    print(f"{'CPU µs per request, server / PostgreSQL':38} {'floor':>15} {'ours':>15}")
    for kind in SCENARIOS:
        if kind in runs:
            ours, floor = runs[kind]["ours"], runs[kind]["floor"]
            print(
                f"{TITLES[kind]:38} {floor.server_cpu_us:>7.0f} / {floor.postgres_cpu_us:<5.0f}"
                f" {ours.server_cpu_us:>7.0f} / {ours.postgres_cpu_us:<5.0f}"
            )
    return out


def report_process(
    started: dict[str, float], rss: dict[str, dict[str, float]], starts: dict[str, list[float]] | None = None
) -> dict[str, Any]:
    print()
    ok = started["ours"] <= START_TARGET_S
    each = {
        who: f" ({', '.join(f'{t:.2f}' for t in ts)})" if len(ts) > 1 else ""
        for who, ts in (starts or {}).items()
    }
    median = " (median of the starts)" if any(each.values()) else ""
    print(
        f"start-up on the loaded database to the first answer{median}:"
        f" ours {started['ours']:.2f} s{each.get('ours', '')},"
        f" floor {started['floor']:.2f} s{each.get('floor', '')}"
        f"  (ours <= {START_TARGET_S} s {'ok' if ok else 'MISS'})"
    )
    diff = rss["ours"]["after"] - rss["floor"]["after"]
    rss_ok = diff <= RSS_TARGET_MB
    print(
        "idle RSS MB after start / after the runs:"
        f" ours {rss['ours']['idle']:.1f} / {rss['ours']['after']:.1f},"
        f" floor {rss['floor']['idle']:.1f} / {rss['floor']['after']:.1f}"
        f"  (ours - floor after {diff:+.1f} <= {RSS_TARGET_MB:.0f} {'ok' if rss_ok else 'MISS'})"
    )
    return {
        "start_s": started,
        "starts_s": starts or {},
        "start_met": ok,
        "rss_mb": rss,
        "rss_after_minus_floor": round(diff, 1),
        "rss_met": rss_ok,
    }


# -- the run -----------------------------------------------------------------------------


@dataclass
class Setup:
    admin_url: str
    workdir: Path
    cleanups: list[Callable[[], object]]
    lag_report: str | None = None

    def database(self, who: str) -> str:
        name = f"tent_bench_{who}_{uuid.uuid4().hex[:10]}"
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        self.cleanups.append(lambda: asyncio.run(admin(self.admin_url, drop)))
        asyncio.run(admin(self.admin_url, f'CREATE DATABASE "{name}"'))
        return with_database(self.admin_url, name)

    def serve(self, name: str, env: dict[str, str], port: int) -> Process:
        cmd = tent_command("serve")
        if self.lag_report:  # the same server, watched by bench/loop_lag.py
            cmd = [sys.executable, str(BENCH_DIR / "loop_lag.py"), "--report", self.lag_report]
        p = start(name, cmd, env, port, self.workdir)
        self.cleanups.append(lambda: stop(p))
        return p


def tent_env(dsn: str, port: int, workers: int) -> dict[str, str]:
    return {
        "TENT_DATABASE_URL": dsn,
        "TENT_PORT": str(port),
        "TENT_HOST": "127.0.0.1",
        "TENT_ENTITY": f"http://127.0.0.1:{port}",
        "TENT_WORKERS": str(workers),
    }


def ours_targets(p: Process, post_ids: list[str]) -> dict[str, Target]:
    urls = discover_endpoints(p)
    entity = p.base_url
    feed = urls["posts_feed"] + "?limit=25"
    one = tuple(uritemplate.expand(urls["post"], entity=entity, post=i) for i in post_ids)
    return {
        "new_post": Target((urls["new_post"],), True),
        "feed": Target((feed,), False),
        "feed_signed": Target((feed,), True),
        "one_post": Target(one, False),
    }


def floor_targets(p: Process, posts: int) -> dict[str, Target]:
    rng = random.Random(1)
    one = tuple(f"{p.base_url}/posts/{rng.randint(1, posts)}" for _ in range(ONE_POST_IDS))
    return {
        "new_post": Target((p.base_url + "/posts",), True),
        "feed": Target((p.base_url + "/posts?limit=25",), False),
        "feed_signed": Target((p.base_url + "/posts?limit=25",), True),
        "one_post": Target(one, False),
    }


def bench(args: argparse.Namespace, workdir: Path, cleanups: list[Callable[[], object]]) -> int:
    admin_url = os.environ.get("TENT_BENCH_DATABASE_URL") or os.environ.get("TENT_TEST_DATABASE_URL")
    if not admin_url:
        print("starting an embedded PostgreSQL (set TENT_BENCH_DATABASE_URL to use another)")
        admin_url, handle = db.start_embedded(workdir / "pg")
        cleanups.append(handle.cleanup)
    setup = Setup(admin_url, workdir, cleanups, args.lag_report)
    if args.scaling:
        return scaling(args, setup)
    dsn = {"ours": setup.database("ours"), "floor": setup.database("floor")}
    ports = {"ours": free_port(), "floor": free_port()}
    compile_bytecode()
    env = tent_env(dsn["ours"], ports["ours"], args.workers)
    owner = owner_credentials(env, workdir)  # also migrates ours

    t0 = time.monotonic()
    seeded = asyncio.run(seed_ours(dsn["ours"], env["TENT_ENTITY"], args.posts))
    seed_s = time.monotonic() - t0
    asyncio.run(seed_floor(dsn["floor"], f"http://127.0.0.1:{ports['floor']}", args.posts))
    for who in ("ours", "floor"):
        asyncio.run(admin(dsn[who], "VACUUM ANALYZE"))
    print(f"seeded ours with {seeded:,} posts in {seed_s:.1f} s ({seeded / max(seed_s, 1e-9):,.0f}/s)")
    post_ids = asyncio.run(sample_post_ids(dsn["ours"], ONE_POST_IDS))

    # One after the other, so neither start competes with the other for the CPUs.
    floor_env = {
        "FLOOR_DATABASE_URL": dsn["floor"],
        "FLOOR_PORT": str(ports["floor"]),
        "FLOOR_HAWK_ID": owner.credentials.id,
        "FLOOR_HAWK_KEY": owner.credentials.key,
    }
    procs = {
        "floor": start(
            "floor", [sys.executable, str(BENCH_DIR / "floor.py")], floor_env, ports["floor"], workdir
        )
    }
    cleanups.append(lambda: stop(procs["floor"]))
    started = {"floor": wait_ready(procs["floor"], "/posts")}
    procs["ours"] = setup.serve("ours", env, ports["ours"])
    started["ours"] = wait_ready(procs["ours"], "/")
    targets = {
        "ours": ours_targets(procs["ours"], post_ids),
        "floor": floor_targets(procs["floor"], args.posts),
    }
    rss: dict[str, dict[str, float]] = {}
    for who, p in procs.items():
        check_answer(who, "feed_signed", targets[who]["feed_signed"], owner)  # a first signed request
        rss[who] = {"idle": rss_mb(p.proc.pid)}
    print(
        f"started in {started['ours']:.2f} s (ours), {started['floor']:.2f} s (floor);"
        f" {args.workers} worker(s);"
        f" wrk -t{WRK_THREADS} -c{args.connections} -d{args.duration}s after {args.warmup} s of warm-up;"
        f" ours as owner app {owner.app_id}"
    )

    load = Load(args, workdir, owner)
    runs: dict[str, dict[str, Run]] = {}
    profiles: dict[str, Any] = {}
    rounds: dict[str, list[float]] = {}
    # new_post last: the feeds and the posts read are those of the seeded database. Each round
    # is the floor's timed run then ours: the machine's drift falls on both alike.
    for kind in ("feed", "feed_signed", "one_post", "new_post"):
        both: dict[str, list[Run]] = {"floor": [], "ours": []}
        profiler = None
        for n in range(args.rounds):
            floor_run = load.measure(procs["floor"], kind, targets["floor"][kind], None, warm_up=n == 0)
            both["floor"].append(floor_run)
            if args.profile and n == 0:
                profiler = start_profiler(procs["ours"].proc.pid, workdir, False, kind)
            rate, first = floor_run.requests_per_s, n == 0
            both["ours"].append(load.measure(procs["ours"], kind, targets["ours"][kind], rate, warm_up=first))
            if profiler:
                profiles[kind] = stop_profiler(profiler, RESULTS.parent / f"profile-{kind}.txt")
                profiler = None
        runs[kind] = {who: median_run(r) for who, r in both.items()}
        pairs = zip(both["ours"], both["floor"], strict=True)
        rounds[kind] = [round(o.requests_per_s / f.requests_per_s, 3) for o, f in pairs]
    for who, p in procs.items():
        rss[who]["after"] = rss_mb(p.proc.pid)
    # Two restarts each, on the databases as the runs left them: one start is at the mercy of
    # the machine's noise (the floor's own took 0.22-0.40 s in runs of one day). Not under
    # --lag-report, whose report the watched server writes when it stops.
    starts = {who: [t] for who, t in started.items()}
    for _ in range(0 if args.lag_report else START_ROUNDS - 1):
        for who in ("floor", "ours"):
            stop(procs[who])
            if who == "ours":
                procs[who] = setup.serve("ours", env, ports["ours"])
            else:
                procs[who] = start(
                    "floor", [sys.executable, str(BENCH_DIR / "floor.py")], floor_env, ports["floor"], workdir
                )
                cleanups.append(lambda p=procs[who]: stop(p))
            starts[who].append(wait_ready(procs[who], "/" if who == "ours" else "/posts"))
    started = {who: statistics.median(t) for who, t in starts.items()}

    result: dict[str, Any] = {"scenarios": report(runs, rounds), **report_process(started, rss, starts)}
    result["nonce_check"] = asyncio.run(nonce_check_cost(dsn["ours"]))
    nc = result["nonce_check"]
    print(
        "shared nonce check (INSERT ... ON CONFLICT into UNLOGGED hawk_nonces):"
        f" {nc['nonce_insert_us']:.0f} µs per request one at a time,"
        f" {nc['nonce_together_us']:.0f} µs each {nc['together']} at a time,"
        f" against {nc['select_1_us']:.0f} µs for a bare SELECT 1 round trip"
    )
    for kind, profile in profiles.items():
        print_profile(f"tent serve during {kind}", profile)
    if args.compare_workers:
        result["workers"] = compare_workers(args, setup, load, dsn["ours"], post_ids, runs, procs["ours"])
    result.update(
        config={
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "rounds": args.rounds,
            "wrk_threads": WRK_THREADS,
            "posts": args.posts,
            "workers": args.workers,
            "cpus": os.cpu_count(),
            "loadavg_at_end": os.getloadavg(),
            "python": sys.version.split()[0],
        },
        seed={"posts": seeded, "seconds": round(seed_s, 2)},
        profiles=profiles,
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    save(result)
    return 0


def compare_workers(
    args: argparse.Namespace,
    setup: Setup,
    load: Load,
    dsn: str,
    post_ids: list[str],
    runs: dict[str, dict[str, Run]],
    first: Process,
) -> dict[str, Any]:
    """Ours again as `tent serve --workers 2` (one port, SO_REUSEPORT) on the same database, on
    the feed and new_post, beside the 1-worker figures and the floor's of this run."""
    stop(first)
    # The same port, so the same entity: the seeded posts are its own (a new port would be a
    # new entity with nothing in its feed but its meta post).
    port = int(urllib.parse.urlsplit(first.base_url).port or 80)
    p = setup.serve("ours2", tent_env(dsn, port, 2), port)
    wait_ready(p, "/")
    targets = ours_targets(p, post_ids)
    print("\n--workers 2 (same database):")
    out: dict[str, Any] = {}
    for kind in ("feed", "new_post"):
        two = load.measure(p, kind, targets[kind], runs[kind]["floor"].requests_per_s)
        one, floor = runs[kind]["ours"], runs[kind]["floor"]
        out[kind] = {"one": asdict(one), "two": asdict(two)}
        print(
            f"{TITLES[kind]:38} 1 worker {one.requests_per_s:>7,.0f} req/s"
            f" ({one.requests_per_s / floor.requests_per_s:.2f} of floor),"
            f" 2 workers {two.requests_per_s:>7,.0f} req/s ({two.requests_per_s / floor.requests_per_s:.2f});"
            f" p99 {one.p99_ms:.1f} -> {two.p99_ms:.1f} ms"
        )
    stop(p)
    return out


def scaling(args: argparse.Namespace, setup: Setup) -> int:
    """The feed (newest 25, and a page half-way back through `before`) as the posts grow, with
    EXPLAIN (ANALYZE, BUFFERS) of the deep page's query at the largest size."""
    dsn = setup.database("scaling")
    port = free_port()
    env = tent_env(dsn, port, 1)
    owner = owner_credentials(env, setup.workdir)
    load = Load(args, setup.workdir, owner)
    sizes = [n for n in SCALING_SIZES if n <= args.scaling_max]
    out: dict[str, Any] = {}
    plan = ""
    for size in sizes:
        t0 = time.monotonic()
        seeded = asyncio.run(seed_ours(dsn, env["TENT_ENTITY"], size))
        asyncio.run(admin(dsn, "VACUUM ANALYZE"))
        print(f"\n{size:,} posts (seeded {seeded:,} in {time.monotonic() - t0:.0f} s)")
        middle = asyncio.run(_middle_received_at(dsn))
        p = setup.serve("ours", env, port)
        started = wait_ready(p, "/")
        feed = discover_endpoints(p)["posts_feed"]
        out[str(size)] = {"start_s": round(started, 3)}
        for name, url in (("newest", f"{feed}?limit=25"), ("deep", f"{feed}?limit=25&before={middle}")):
            run = load.run(p, "feed", Target((url,), False), SCALING_DURATION_S, None, name)
            out[str(size)][name] = asdict(run)
        stop(p)
        if size == sizes[-1]:
            plan = asyncio.run(
                explain_feed(dsn, env["TENT_ENTITY"], FeedQuery(limit=25, before=Position(middle)))
            )
    print(
        f"\n{'posts':>10} {'start s':>8} {'newest req/s':>13} {'p50/p99 ms':>14}"
        f" {'deep req/s':>11} {'p50/p99 ms':>14}"
    )
    for size, row in out.items():
        n, d = row["newest"], row["deep"]
        print(
            f"{int(size):>10,} {row['start_s']:>8.2f} {n['requests_per_s']:>13,.0f} "
            f"{n['p50_ms']:>6.1f}/{n['p99_ms']:<7.1f} {d['requests_per_s']:>11,.0f}"
            f" {d['p50_ms']:>6.1f}/{d['p99_ms']:<7.1f}"
        )
    print(f"\nEXPLAIN (ANALYZE, BUFFERS) of the deep page at {sizes[-1]:,} posts:\n{plan}")
    save(
        {"scaling": out, "explain": plan, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, "scaling.json"
    )
    return 0


async def _middle_received_at(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval(
                "SELECT received_at FROM posts WHERE latest ORDER BY received_at"
                " OFFSET (SELECT count(*) / 2 FROM posts WHERE latest) LIMIT 1"
            )
        )
    finally:
        await conn.close()


def save(result: dict[str, Any], name: str = "latest.json") -> None:
    path = RESULTS.parent / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {path.relative_to(BENCH_DIR.parent)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration",
        type=int,
        default=10,
        help=f"seconds per timed wrk run (default 10, at most {MAX_DURATION_S}: Hawk timestamps "
        "must stay within 60 s of the server's clock)",
    )
    parser.add_argument(
        "--warmup", type=int, default=5, help="seconds of wrk before each timed run (default 5)"
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="timed runs per scenario and server, alternating floor and ours; the median round of "
        "each is reported (default 3)",
    )
    parser.add_argument("--posts", type=int, default=100_000, help="posts in each database (default 100000)")
    parser.add_argument("--workers", type=int, default=1, help="`tent serve --workers` for ours (default 1)")
    parser.add_argument(
        "--compare-workers", action="store_true", help="then ours again with 2 workers on feed and new_post"
    )
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="instead: the feed at 10k, 100k (and 1M) posts, newest and deep",
    )
    parser.add_argument(
        "--scaling-max", type=int, default=100_000, help="with --scaling: the largest size (1000000 for 1M)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy on ours during each run (slows ours a little)"
    )
    parser.add_argument(
        "--lag-report",
        metavar="PATH",
        help="run ours under bench/loop_lag.py (loop lag, stalls with stacks, GC) and write its report",
    )
    args = parser.parse_args()
    if args.lag_report:
        args.lag_report = str(Path(args.lag_report).resolve())
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not 1 <= args.duration <= MAX_DURATION_S or not 0 <= args.warmup <= MAX_DURATION_S - args.duration:
        parser.error(f"--duration and --warmup together must stay within {MAX_DURATION_S} seconds")
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
