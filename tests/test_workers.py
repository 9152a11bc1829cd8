"""`tent serve --workers 2`: one parent, two forked processes listening on one port and
sharing one database; a signed request is single-use across them; SIGTERM ends them all."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import aiohttp
from mohawk import Sender

from tests.processes import children, free_port, listening_on, owner_credentials, serve, tent_env


async def test_two_workers_share_the_port_refuse_replays_and_stop_on_sigterm(new_database) -> None:
    port = free_port()
    env = tent_env(TENT_DATABASE_URL=await new_database(), TENT_ENTITY=f"http://127.0.0.1:{port}",
                   TENT_WORKERS="2")
    owner = await owner_credentials(env)
    served = await serve(env, port)
    try:
        deadline = time.monotonic() + 60
        while True:
            workers = children(served.proc.pid)
            if len(workers) == 2 and all(listening_on(pid, port) for pid in workers):
                break
            assert time.monotonic() < deadline, (workers, "".join(served.log))
            await asyncio.sleep(0.05)
        assert not listening_on(served.proc.pid, port)  # the parent only supervises
        url = served.base + "/posts"
        header = Sender({"id": owner["id"], "key": owner["hawk_key"], "algorithm": "sha256"}, url, "GET",
                        content="", content_type="", always_hash_content=False,
                        app=owner["app_id"]).request_header
        for attempt in range(20):  # a fresh connection each time: the kernel picks a worker
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
                async with session.get(url, headers={"Authorization": header}) as resp:
                    assert resp.status == (200 if attempt == 0 else 403), await resp.text()
                async with session.get(served.base + "/") as resp:
                    assert resp.status == 200
        served.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(served.proc.wait(), 20) == 0, "".join(served.log)
        assert not [pid for pid in workers if pid in children(served.proc.pid)]
    finally:
        await served.stop()
    assert not any("Traceback" in line for line in served.log), "".join(served.log)


async def test_a_worker_that_dies_stops_the_server_with_an_error(new_database) -> None:
    port = free_port()
    env = tent_env(TENT_DATABASE_URL=await new_database(), TENT_ENTITY=f"http://127.0.0.1:{port}",
                   TENT_WORKERS="2")
    served = await serve(env, port)
    try:
        deadline = time.monotonic() + 60
        while len(workers := children(served.proc.pid)) < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        os.kill(workers[0], signal.SIGKILL)
        assert await asyncio.wait_for(served.proc.wait(), 20) == 1
    finally:
        await served.stop()
    assert any("exited with code -9" in line for line in served.log), "".join(served.log)


async def test_one_worker_is_the_serving_process_itself(new_database) -> None:
    port = free_port()
    env = tent_env(TENT_DATABASE_URL=await new_database(), TENT_ENTITY=f"http://127.0.0.1:{port}")
    served = await serve(env, port)
    try:
        assert children(served.proc.pid) == []
        assert listening_on(served.proc.pid, port)
    finally:
        await served.stop()
