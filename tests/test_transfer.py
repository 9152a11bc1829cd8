"""`tent export` and `tent import`: the whole server as JSON Lines, moved to a new database
with the same entity, answering exactly as before; damaged files import nothing."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import stat
import subprocess
from pathlib import Path
from urllib.parse import quote

import asyncpg
import orjson
import pytest

from tent import transfer
from tent.core.passphrase import hash_passphrase
from tent.handlers.common import DATABASE, FEDERATION_STORE, STATE
from tent.handlers.owner import PASSPHRASE_KEY
from tent.store import db
from tent.store import transfer as store_transfer
from tent.store.blobs import BlobStore
from tests.app_helpers import authorize, register
from tests.attachment_helpers import upload
from tests.conftest import STATUS, Tent
from tests.fed_helpers import deliveries, eventually, subscribe, wait_copy, wait_delivered
from tests.processes import TENT
from tests.processes import run_tent as _run
from tests.processes import tent_env as _env

PHOTO_BYTES = bytes(range(256)) * 1500  # two chunks of 256 KiB and a bit


def records(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


async def export_file(database_url: str, entity: str, path: Path) -> list[dict]:
    env = _env(TENT_DATABASE_URL=database_url, TENT_ENTITY=entity)
    result = await _run("export", "--output", str(path), env=env)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    return records(path)


async def import_file(database_url: str, entity: str, path: Path) -> str:
    result = await _run("import", str(path), env=_env(TENT_DATABASE_URL=database_url, TENT_ENTITY=entity))
    assert result.returncode == 0, result.stderr
    return result.stdout


async def observe(tent: Tent, app_client, photo: dict, versions_of: dict, private: dict) -> dict:
    """What clients see: the owner's and the public feed, a version list, a private post,
    an app's view, and attachment bytes."""
    seen = {}
    for name, client, path in (
        ("owner feed", tent.client, "/posts?limit=200"),
        ("public feed", tent.anon, "/posts?limit=200"),
        ("app feed", app_client, "/posts"),
        ("versions", tent.client, tent.post_path(versions_of["id"]) + "?limit=10"),
        ("private", tent.client, tent.post_path(private["id"])),
        ("private, anonymous", tent.anon, tent.post_path(private["id"])),
    ):
        headers = {"Accept": "application/vnd.tent.post-versions.v0+json"} if name == "versions" else {}
        resp = await client.get(path, headers=headers)
        seen[name] = (resp.status, await resp.read())
    digest = photo["attachments"][0]["digest"]
    resp = await tent.client.get(f"/attachments/{quote(tent.entity, safe='')}/{digest}")
    seen["attachment"] = (resp.status, await resp.read())
    return seen


async def test_export_import_moves_the_server_and_nobody_notices(make_server, new_database, tmp_path) -> None:
    alice, bob = await make_server(), await make_server()
    follow = await subscribe(bob, alice)
    await wait_delivered(bob, follow["id"], alice.entity)
    await alice.server.app[STATE].set(PASSPHRASE_KEY, hash_passphrase("correct horse battery staple"))
    v1 = await alice.status("first draft")
    v2 = await alice.update(v1, {"text": "second draft"})
    v3 = await alice.update(v2, {"text": "final"})
    private = await alice.status("only for me", permissions={"public": False})
    photo = await upload(alice, [("photo[0]", "big.bin", "application/octet-stream", PHOTO_BYTES)])
    app_client = await authorize(alice, [STATUS], [STATUS])
    app, app_creds = await register(alice)
    asked = await alice.as_app(app_creds, app["id"]).post("/oauth/requests", json={"code": 7})
    assert asked.status == 200
    await wait_delivered(alice, v3["id"], bob.entity)
    alice_meta = await bob.server.app[FEDERATION_STORE].relationship(alice.entity)

    # Bob goes away; a post for him waits in alice's outbox.
    await bob.server.close()
    away = await alice.status("while you were away")

    async def tried():
        rows = await deliveries(alice, away["id"])
        return rows and rows[0]["attempts"] >= 1 and rows[0]["state"] == "pending"

    await eventually(tried)
    before = await observe(alice, app_client, photo, v1, private)
    await alice.server.close()

    exported = await export_file(alice.settings.database_url, alice.entity, tmp_path / "alice.jsonl")
    header = exported[0]
    assert header["format"] == "tent-export" and header["version"] == 1
    assert header["entity"] == alice.entity and isinstance(header["exported_at"], int)
    body = exported[1:]
    kinds = {r["kind"] for r in body}
    assert {"state", "post", "attachment", "attachment_chunk", "relationship", "subscription",
            "delivery", "auth_request", "oauth_code", "end"} <= kinds
    states = {r["row"]["key"] for r in body if r["kind"] == "state"}
    assert {"owner_app", "server_credentials", "signing_keys", PASSPHRASE_KEY} <= states
    posts = [r["post"] for r in body if r["kind"] == "post"]
    versions = [p["version"]["id"] for p in posts if p["id"] == v1["id"]]
    assert sorted(versions) == sorted(v["version"]["id"] for v in (v1, v2, v3))
    waiting = [r["row"] for r in body if r["kind"] == "delivery" and r["row"]["post_id"] == away["id"]]
    assert [d["state"] for d in waiting] == ["pending"]

    new_db = await new_database()
    printed = await import_file(new_db, alice.entity, tmp_path / "alice.jsonl")
    counts = exported[-1]["counts"]
    for kind, n in counts.items():
        assert f"{kind}: {n}" in printed

    # The round trip gives the same records.
    again = await export_file(new_db, alice.entity, tmp_path / "again.jsonl")
    assert again[1:] == exported[1:]

    # The imported database, served at the same entity URL and port.
    alice2 = await make_server(entity=alice.entity, port=alice.settings.port, database_url=new_db)
    assert alice2.owner == alice.owner
    app_client.session = alice2.session
    assert await observe(alice2, app_client, photo, v1, private) == before

    # Bob comes back: the waiting delivery arrives, signed as before; nothing else changed.
    bob2 = await make_server(
        entity=bob.entity, port=bob.settings.port, database_url=bob.settings.database_url
    )
    copy = await wait_copy(bob2, alice.entity, away["id"], timeout=60)
    assert copy["content"] == {"text": "while you were away"}
    # ... and alice's meta post (its servers and keys) is the version bob knew.
    alice_meta_now = (await alice2.feed("?types=https://tent.io/types/meta/v0"))["posts"][0]
    assert alice_meta_now["version"]["id"] == alice_meta.remote_meta["version"]["id"]
    later = await alice2.status("same server, new machine")
    await wait_copy(bob2, alice.entity, later["id"])


async def export_lines(tent: Tent) -> list[bytes]:
    out = bytearray()
    await transfer.export(tent.server.app[DATABASE].pool, tent.entity, out.extend)
    return bytes(out).splitlines(keepends=True)


async def import_lines(database_url: str, entity: str, lines: list[bytes]) -> dict[str, int]:
    pool = await db.create_pool(database_url, 2)
    try:
        return await transfer.load(pool, entity, lines)
    finally:
        await pool.close()


async def stored_rows(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        tables = {*store_transfer.SPECIAL_TABLES, *store_transfer.DERIVED_TABLES, *store_transfer.ROW_TABLES}
        return sum([await conn.fetchval(f"SELECT count(*) FROM {t}") for t in sorted(tables)])
    finally:
        await conn.close()


async def server_with_content(tent: Tent) -> list[bytes]:
    first = await tent.status("hello")
    await tent.update(first, {"text": "hello again"})
    await tent.status("secret", permissions={"public": False})
    await upload(tent, [("photo[0]", "big.bin", "application/octet-stream", PHOTO_BYTES)])
    return await export_lines(tent)


def _line_of(lines: list[bytes], kind: str, test=lambda r: True) -> int:
    for i, line in enumerate(lines):
        record = orjson.loads(line)
        if record.get("kind") == kind and test(record):
            return i
    raise AssertionError(f"no {kind} record")


def _changed_text(lines: list[bytes]) -> tuple[list[bytes], int, str]:
    i = _line_of(lines, "post", lambda r: r["post"]["content"].get("text") == "secret")
    record = orjson.loads(lines[i])
    record["post"]["content"]["text"] = "not what was signed"
    return [*lines[:i], orjson.dumps(record) + b"\n", *lines[i + 1 :]], i + 1, "canonical JSON"


def _changed_bytes(lines: list[bytes]) -> tuple[list[bytes], int, str]:
    i = _line_of(lines, "attachment_chunk", lambda r: r["seq"] == 1)
    record = orjson.loads(lines[i])
    data = bytearray(base64.b64decode(record["data"]))
    data[0] ^= 0xFF
    record["data"] = base64.b64encode(bytes(data)).decode()
    attachment = _line_of(lines, "attachment")
    return [*lines[:i], orjson.dumps(record) + b"\n", *lines[i + 1 :]], attachment + 1, "do not hash"


def _repeated_post(lines: list[bytes]) -> tuple[list[bytes], int, str]:
    i = _line_of(lines, "post", lambda r: r["post"]["content"].get("text") == "secret")
    return [*lines[: i + 1], lines[i], *lines[i + 1 :]], i + 2, "duplicate key"


def _wrong_type(lines: list[bytes]) -> tuple[list[bytes], int, str]:
    i = _line_of(lines, "state", lambda r: r["row"]["key"] == "owner_app")
    record = orjson.loads(lines[i])
    record["row"]["key"] = 42
    return [*lines[:i], orjson.dumps(record) + b"\n", *lines[i + 1 :]], i + 1, "refused by the database"


def _cut_mid_line(lines: list[bytes]) -> tuple[list[bytes], int, str]:
    i = _line_of(lines, "post", lambda r: r["post"]["content"].get("text") == "secret")
    return [*lines[:i], lines[i][: len(lines[i]) // 2]], i + 1, "truncated"


def _cut_at_line_end(lines: list[bytes]) -> tuple[list[bytes], int, str]:
    end = len(lines) - 1  # the end record is dropped: every line left is whole
    return lines[:end], end + 1, "cut short"


@pytest.mark.parametrize(
    "damage", [_changed_text, _changed_bytes, _cut_mid_line, _cut_at_line_end, _repeated_post, _wrong_type],
    ids=["bad version id", "bad digest", "truncated line", "missing end", "repeated record", "wrong type"],
)
async def test_a_damaged_export_stops_at_its_line_and_imports_nothing(
    tent: Tent, new_database, damage
) -> None:
    lines, line, words = damage(await server_with_content(tent))
    target = await new_database()
    with pytest.raises(transfer.ImportFailed) as failed:
        await import_lines(target, tent.entity, lines)
    assert failed.value.line == line and words in str(failed.value)
    assert await stored_rows(target) == 0


async def test_tent_import_names_the_line_and_exits_nonzero(tent: Tent, new_database, tmp_path) -> None:
    lines, line, _ = _changed_text(await server_with_content(tent))
    path = tmp_path / "damaged.jsonl"
    path.write_bytes(b"".join(lines))
    target = await new_database()
    result = await _run("import", str(path), env=_env(TENT_DATABASE_URL=target, TENT_ENTITY=tent.entity))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"nothing was imported: line {line}: version id" in result.stderr
    assert await stored_rows(target) == 0


async def test_import_into_a_database_with_data_is_refused(tent: Tent, make_server) -> None:
    lines = await export_lines(tent)
    other = await make_server()
    with pytest.raises(transfer.ImportFailed, match="not empty"):
        await import_lines(other.settings.database_url, tent.entity, lines)


async def test_import_for_another_entity_is_refused(tent: Tent, new_database) -> None:
    lines = await export_lines(tent)
    target = await new_database()
    with pytest.raises(transfer.ImportFailed, match="TENT_ENTITY") as failed:
        await import_lines(target, "https://someone-else.example", lines)
    assert failed.value.line == 1 and await stored_rows(target) == 0


async def test_import_from_standard_input(tent: Tent, new_database) -> None:
    lines = await server_with_content(tent)
    target = await new_database()
    env = _env(TENT_DATABASE_URL=target, TENT_ENTITY=tent.entity)
    proc = await asyncio.create_subprocess_exec(
        *TENT, "import", "-", env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(b"".join(lines)), 120)
    assert proc.returncode == 0, err.decode()
    counts = orjson.loads(lines[-1])["counts"]
    assert counts["attachment_chunk"] == 2
    assert out.decode().splitlines() == ["imported:", *(f"  {k}: {n}" for k, n in sorted(counts.items()))]


async def test_every_table_is_exported_or_rebuilt(new_database) -> None:
    """A table or column added by a migration must be exported, or be declared derived."""
    conn = await asyncpg.connect(await new_database())
    try:
        found = await store_transfer.tables(conn)
    finally:
        await conn.close()
    handled = (
        set(store_transfer.ROW_TABLES)
        | store_transfer.SPECIAL_TABLES
        | store_transfer.DERIVED_TABLES
        | store_transfer.NOT_EXPORTED
    )
    assert set(found) == handled
    assert set(found["posts"]) == store_transfer.POST_COLUMNS | store_transfer.POST_DERIVED_COLUMNS
    assert set(found["blobs"]) == {"digest", "size", "created_at"}
    assert set(found["blob_chunks"]) == {"blob", "seq", "data"}


BIG = 40 * 1024 * 1024
MEMORY_BOUND = 20 * 1024 * 1024


def _peak_rss(args: list[str], env: dict[str, str], log: Path) -> int:
    """Run `tent ARGS` to completion; its own peak resident set in bytes (wait4's rusage)."""
    with open(log, "wb") as err:
        proc = subprocess.Popen([*TENT, *args], env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, log.read_text()
    return usage.ru_maxrss * 1024


async def test_export_and_import_run_in_constant_memory(tent: Tent, new_database, tmp_path) -> None:
    """A 40 MB attachment (53 MB of base64) moves through both commands while their peak
    memory rises by less than 20 MB over a server without it."""
    env = _env(TENT_DATABASE_URL=tent.settings.database_url, TENT_ENTITY=tent.entity)
    small = tmp_path / "small.jsonl"
    base_export = await asyncio.to_thread(_peak_rss, ["export", "-o", str(small)], env, tmp_path / "e1")

    async def stream():
        block = bytes(range(256)) * 4096
        for _ in range(BIG // len(block)):
            yield block

    stored = await BlobStore(tent.server.app[DATABASE].pool).upload(stream(), BIG, 1)
    big = tmp_path / "big.jsonl"
    big_export = await asyncio.to_thread(_peak_rss, ["export", "-o", str(big)], env, tmp_path / "e2")
    assert big.stat().st_size > BIG

    imports = []
    for path in (small, big):
        target = _env(TENT_DATABASE_URL=await new_database(), TENT_ENTITY=tent.entity)
        imports.append(await asyncio.to_thread(_peak_rss, ["import", str(path)], target, tmp_path / "i"))
    print(
        f"peak RSS export {base_export >> 20} -> {big_export >> 20} MB,"
        f" import {imports[0] >> 20} -> {imports[1] >> 20} MB"
    )
    assert big_export - base_export < MEMORY_BOUND
    assert imports[1] - imports[0] < MEMORY_BOUND
    attachment = next(orjson.loads(line) for line in big.open("rb") if b'"kind":"attachment"' in line)
    assert attachment["digest"] == stored.digest and attachment["size"] == BIG


async def test_export_to_a_place_that_cannot_be_written_is_a_clear_error(tent: Tent, tmp_path) -> None:
    env = _env(TENT_DATABASE_URL=tent.settings.database_url, TENT_ENTITY=tent.entity)
    result = await _run("export", "--output", str(tmp_path / "missing" / "x.jsonl"), env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "tent: export failed:" in result.stderr and not (tmp_path / "missing").exists()


async def test_export_shows_progress_only_on_a_terminal(tent: Tent, tmp_path) -> None:
    import pty

    env = _env(TENT_DATABASE_URL=tent.settings.database_url, TENT_ENTITY=tent.entity)
    piped = await _run("export", "--output", str(tmp_path / "a.jsonl"), env=env)
    assert piped.returncode == 0 and piped.stderr == ""
    leader, follower = pty.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            *TENT, "export", "--output", str(tmp_path / "b.jsonl"),
            env=env, stdout=subprocess.DEVNULL, stderr=follower,
        )
        os.close(follower)
        assert await asyncio.wait_for(proc.wait(), 120) == 0
        shown = b""
        with contextlib.suppress(OSError):  # EIO once the terminal's last writer is gone
            while chunk := os.read(leader, 4096):
                shown += chunk
    finally:
        os.close(leader)
    lines = len((tmp_path / "b.jsonl").read_bytes().splitlines())
    assert f"exported {lines} lines".encode() in shown
