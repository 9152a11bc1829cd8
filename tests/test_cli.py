"""The `tent` command: serve, migrate, credentials, configuration from env and flags."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from tent.config import Settings, settings_from
from tests.processes import free_port as _free_port
from tests.processes import run_tent as _run
from tests.processes import serve
from tests.processes import tent_env as _env


async def test_credentials_json_prints_owner_app_credentials_once_created(new_database) -> None:
    env = _env(TENT_DATABASE_URL=await new_database(), TENT_ENTITY="https://me.example")
    first = await _run("credentials", "--json", env=env)
    assert first.returncode == 0, first.stderr
    creds = json.loads(first.stdout)
    assert set(creds) == {"entity", "app_id", "id", "hawk_key", "hawk_algorithm"}
    assert creds["entity"] == "https://me.example" and creds["hawk_algorithm"] == "sha256"
    assert len(creds["hawk_key"]) == 64
    again = json.loads((await _run("credentials", "--json", env=env)).stdout)
    assert again == creds


async def test_migrate_is_idempotent(new_database) -> None:
    env = _env(TENT_DATABASE_URL=await new_database())
    for _ in range(2):
        result = await _run("migrate", env=env)
        assert result.returncode == 0, result.stderr


async def test_serve_help_documents_every_environment_variable() -> None:
    result = await _run("serve", "--help", env=_env())
    assert result.returncode == 0
    for var in (
        "TENT_ENTITY",
        "TENT_HOST",
        "TENT_PORT",
        "TENT_DATABASE_URL",
        "TENT_DATA_DIR",
        "TENT_APP_APPROVAL",
        "TENT_ALLOW_PRIVATE_ADDRESSES",
        "TENT_DELIVERY_RETRY_BASE",
        "TENT_DELIVERY_GIVE_UP_AFTER",
    ):
        assert var in result.stdout


async def test_bad_configuration_is_a_clear_error() -> None:
    result = await _run("migrate", env=_env(TENT_ENTITY="https://me.example/"))
    assert result.returncode != 0
    assert "trailing slash" in result.stderr and "Traceback" not in result.stderr


async def test_serve_with_database_url_answers_discovery(new_database) -> None:
    port = _free_port()
    env = _env(TENT_DATABASE_URL=await new_database(), TENT_PORT=str(port))
    served = await serve(env, port)
    try:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/posts") as resp:
            assert resp.status == 200
            assert (await resp.json())["posts"][0]["entity"] == f"http://127.0.0.1:{port}"
    finally:
        await served.stop()


async def test_serve_without_database_url_starts_an_embedded_postgresql(tmp_path: Path) -> None:
    port = _free_port()
    env = _env(TENT_DATA_DIR=str(tmp_path / "data"), TENT_PORT=str(port))
    served = await serve(env, port)
    try:
        assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists()
    finally:
        await served.stop()
    assert served.proc.returncode == 0


def test_settings_read_environment_and_flags_override_it() -> None:
    s = settings_from({"TENT_PORT": "9000", "TENT_ALLOW_PRIVATE_ADDRESSES": "1"}, host="0.0.0.0")
    assert s.port == 9000 and s.allow_private_addresses and s.host == "0.0.0.0"
    assert s.entity == "http://localhost:9000"
    assert (s.public_host, s.public_port) == ("localhost", 9000)


def test_entity_with_a_path_prefixes_the_routes() -> None:
    s = Settings(entity="https://example.org/u1/tent")
    assert s.path_prefix == "/u1/tent" and s.public_port == 443


@pytest.mark.parametrize(
    "entity", ["ftp://x.example", "https://x.example/", "https://x.example?a=1", "not a url"]
)
def test_invalid_entities_are_refused(entity: str) -> None:
    with pytest.raises(ValueError):
        Settings(entity=entity)
