"""The owner's sign-in is limited per client address with a growing wait, never for the
whole server; failures are logged in a form fail2ban can match; X-Forwarded-For counts
only from configured proxies."""

from __future__ import annotations

import logging
import re

import pytest

from tent.core.passphrase import hash_passphrase
from tent.core.signin_backoff import FIRST_LOCK_MS, FREE_FAILURES, MAX_LOCK_MS, lock_ms
from tent.handlers.common import STATE
from tent.handlers.owner import PASSPHRASE_KEY
from tests.conftest import Tent

PASSPHRASE = "correct horse battery"
FAIL2BAN = re.compile(r"failed owner sign-in \(\d+ in a row\) from (?P<host>\S+)$")


async def _with_passphrase(tent: Tent) -> Tent:
    await tent.server.app[STATE].set(PASSPHRASE_KEY, hash_passphrase(PASSPHRASE))
    return tent


async def _sign_in(
    tent: Tent, passphrase: str, forwarded_for: str | None = None
) -> tuple[int, dict[str, str]]:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    async with tent.session.post(
        tent.base + "/owner/login",
        data={"passphrase": passphrase, "next": "/owner"},
        headers=headers,
        allow_redirects=False,
    ) as resp:
        return resp.status, dict(resp.headers)


def test_the_wait_grows_from_the_first_locked_failure_and_is_capped() -> None:
    assert [lock_ms(n) for n in range(FREE_FAILURES)] == [0] * FREE_FAILURES
    assert lock_ms(FREE_FAILURES) == FIRST_LOCK_MS
    assert lock_ms(FREE_FAILURES + 1) == 2 * FIRST_LOCK_MS
    assert lock_ms(10_000) == MAX_LOCK_MS


async def test_failed_sign_ins_lock_that_address_only_with_retry_after(make_server) -> None:
    tent = await _with_passphrase(await make_server(trusted_proxies=("127.0.0.1/32",)))
    attacker, owner = "203.0.113.7", "198.51.100.2"
    for _ in range(FREE_FAILURES):
        assert (await _sign_in(tent, "wrong guess", attacker))[0] == 403
    status, headers = await _sign_in(tent, PASSPHRASE, attacker)
    assert status == 429 and 0 < int(headers["Retry-After"]) <= FIRST_LOCK_MS // 1000
    # the owner, elsewhere, is not locked out
    assert (await _sign_in(tent, PASSPHRASE, owner))[0] == 303


async def test_each_failed_sign_in_is_logged_with_the_address_for_fail2ban(
    make_server, caplog: pytest.LogCaptureFixture
) -> None:
    tent = await _with_passphrase(await make_server())
    caplog.set_level(logging.WARNING, logger="tent")
    await _sign_in(tent, "wrong guess")
    lines = [FAIL2BAN.search(r.getMessage()) for r in caplog.records]
    assert [m["host"] for m in lines if m] == ["127.0.0.1"]


async def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    make_server, caplog: pytest.LogCaptureFixture
) -> None:
    tent = await _with_passphrase(await make_server())
    caplog.set_level(logging.WARNING, logger="tent")
    for i in range(FREE_FAILURES):
        await _sign_in(tent, "wrong guess", f"192.0.2.{i}")  # a forged header per try
    assert (await _sign_in(tent, PASSPHRASE, "192.0.2.99"))[0] == 429
    hosts = {m["host"] for r in caplog.records if (m := FAIL2BAN.search(r.getMessage()))}
    assert hosts == {"127.0.0.1"}


async def test_trusted_proxy_passes_on_the_nearest_untrusted_forwarded_address(
    make_server, caplog: pytest.LogCaptureFixture
) -> None:
    tent = await _with_passphrase(await make_server(trusted_proxies=("127.0.0.0/8", "10.0.0.0/8")))
    caplog.set_level(logging.WARNING, logger="tent")
    await _sign_in(tent, "wrong guess", "198.51.100.9, 203.0.113.5, 10.1.2.3")
    hosts = [m["host"] for r in caplog.records if (m := FAIL2BAN.search(r.getMessage()))]
    assert hosts == ["203.0.113.5"]


async def test_a_successful_sign_in_clears_the_count(make_server) -> None:
    tent = await _with_passphrase(await make_server())
    for _ in range(FREE_FAILURES - 1):
        assert (await _sign_in(tent, "wrong guess"))[0] == 403
    assert (await _sign_in(tent, PASSPHRASE))[0] == 303
    for _ in range(FREE_FAILURES - 1):
        assert (await _sign_in(tent, "wrong guess"))[0] == 403
    assert (await _sign_in(tent, PASSPHRASE))[0] == 303
