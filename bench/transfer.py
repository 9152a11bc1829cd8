"""tent export / tent import against pg_dump / pg_restore of the same database, in one run.

The floor is PostgreSQL's own tools moving the same database (custom format, one process
each way): the least work that takes everything out and puts it back. Ours does more on
purpose (JSON Lines, base64 attachments, every version id recomputed on import), so the
ratio prices the portable, checked format.

    TENT_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
      .venv/bin/python bench/transfer.py [--posts 20000] [--attachment-mb 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from bench_posts import admin, clean_env, run_cleaning_up, seed_ours, tent_command, with_database

from tent.store import db
from tent.store.blobs import BlobStore


def pg_tool(name: str, embedded: bool) -> str:
    """The embedded server is PostgreSQL 16: its own tools; otherwise the ones on PATH."""
    if embedded:
        import pgserver

        return str(Path(pgserver.__file__).parent / "pginstall" / "bin" / name)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return found


def timed(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one command run to completion."""
    with open(log, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed:\n{log.read_text()[-2000:]}")
    return elapsed, usage.ru_maxrss * 1024


async def add_attachment(dsn: str, size: int) -> None:
    pool = await db.create_pool(dsn, 2)
    try:

        async def stream():
            block = os.urandom(1 << 20)  # incompressible, like photos
            for _ in range(size >> 20):
                yield block

        await BlobStore(pool).upload(stream(), size, int(time.time() * 1000))
    finally:
        await pool.close()


def bench(args: argparse.Namespace, workdir: Path, cleanups: list[Callable[[], object]]) -> int:
    admin_url = os.environ.get("TENT_BENCH_DATABASE_URL") or os.environ.get("TENT_TEST_DATABASE_URL")
    embedded = not admin_url
    if embedded:
        print("starting an embedded PostgreSQL (set TENT_BENCH_DATABASE_URL to use another)")
        admin_url, handle = db.start_embedded(workdir / "pg")
        cleanups.append(handle.cleanup)
    pg_dump, pg_restore = pg_tool("pg_dump", embedded), pg_tool("pg_restore", embedded)
    tag = uuid.uuid4().hex[:10]

    def database(name: str) -> str:
        full = f"tent_bench_transfer_{tag}_{name}"
        drop = f'DROP DATABASE IF EXISTS "{full}" WITH (FORCE)'
        cleanups.append(lambda: asyncio.run(admin(admin_url, drop)))
        asyncio.run(admin(admin_url, drop, f'CREATE DATABASE "{full}"'))
        return with_database(admin_url, full)

    entity = "https://bench.example"
    source = database("source")
    env = clean_env({"TENT_DATABASE_URL": source, "TENT_ENTITY": entity})
    subprocess.run(tent_command("credentials", "--json"), env=env, check=True, capture_output=True)
    asyncio.run(seed_ours(source, entity, args.posts))
    asyncio.run(add_attachment(source, args.attachment_mb << 20))
    print(f"source: {args.posts} posts and a {args.attachment_mb} MB attachment")

    export_file, dump_file = workdir / "export.jsonl", workdir / "dump.pgc"
    kinds = ("export", "pg_dump", "import", "pg_restore")
    results: dict[str, list[tuple[float, int]]] = {k: [] for k in kinds}
    for r in range(args.rounds):
        log = workdir / "log"
        results["export"].append(timed(tent_command("export", "-o", str(export_file)), env, log))
        results["pg_dump"].append(timed([pg_dump, "-Fc", "-f", str(dump_file), source], env, log))
        target = database(f"import{r}")
        target_env = clean_env({"TENT_DATABASE_URL": target, "TENT_ENTITY": entity})
        results["import"].append(timed(tent_command("import", str(export_file)), target_env, log))
        restored = database(f"restore{r}")
        results["pg_restore"].append(
            timed([pg_restore, "--no-owner", "-d", restored, str(dump_file)], env, log)
        )

    def row(ours: str, floor: str) -> str:
        o, f = results[ours], results[floor]
        om, fm = statistics.median(t for t, _ in o), statistics.median(t for t, _ in f)
        return (
            f"{ours:<7} {om:>8.2f} {max(t for t, _ in o):>8.2f} {max(m for _, m in o) >> 20:>7}"
            f"   {floor:<10} {fm:>8.2f} {max(t for t, _ in f):>8.2f} {max(m for _, m in f) >> 20:>7}"
            f"   {om / fm:>6.2f}"
        )

    print(f"{args.rounds} rounds; seconds (median, max) and peak RSS in MB")
    print(
        f"{'ours':<7} {'median':>8} {'max':>8} {'RSS':>7}   {'floor':<10} {'median':>8} {'max':>8}"
        f" {'RSS':>7}   {'ratio':>6}"
    )
    print(row("export", "pg_dump"))
    print(row("import", "pg_restore"))
    sizes = export_file.stat().st_size >> 20, dump_file.stat().st_size >> 20
    print(f"file sizes: export {sizes[0]} MB, pg_dump {sizes[1]} MB")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=20_000, help="posts in the source database")
    parser.add_argument("--attachment-mb", type=int, default=20, help="size of one attachment, MB")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of export and import")
    return run_cleaning_up(bench, parser.parse_args(), "tent-bench-transfer-")


if __name__ == "__main__":
    sys.exit(main())
