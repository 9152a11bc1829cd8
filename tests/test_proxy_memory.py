"""A 50 MB attachment of another entity is streamed through the proxying server: its peak
memory stays within a bound (§8).

The proxying server runs as its own process (`tent serve`) so its peak resident set (VmHWM)
is measured alone; the origin is a server in the test process. Bound: proxying the bytes
raises the proxy's peak by less than 30 MB (without streaming, holding 50 MB alone would
add 50 MB or more).
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import quote

import aiohttp
from yarl import URL

from tent.auth import hawk
from tent.auth.hawk import Credentials
from tests.memory_helpers import BOUND, PHOTO, SIZE, generated, peak_rss
from tests.processes import free_port as _free_port
from tests.processes import run_tent as _run
from tests.processes import serve
from tests.processes import tent_env as _env


async def test_fifty_megabyte_foreign_attachment_is_proxied_with_bounded_memory(
    make_server, new_database
) -> None:
    alice = await make_server()
    hasher = hashlib.sha512()
    writer = aiohttp.MultipartWriter("form-data")
    post_part = {"Content-Type": f'application/vnd.tent.post.v0+json; type="{PHOTO}"'}
    part = writer.append_json({"type": PHOTO}, post_part)
    part.set_content_disposition("form-data", name="post", filename="post.json")
    part = writer.append(generated(SIZE, hasher), {"Content-Type": "application/octet-stream"})
    part.set_content_disposition("form-data", name="photo[0]", filename="big.bin")
    resp = await alice.client.post("/posts", data=writer, headers={"Content-Type": writer.content_type})
    assert resp.status == 200, await resp.text()
    post = (await resp.json())["post"]
    digest = post["attachments"][0]["digest"]
    assert digest == hasher.hexdigest()[:64]

    port = _free_port()
    env = _env(TENT_DATABASE_URL=await new_database(), TENT_PORT=str(port), TENT_ALLOW_PRIVATE_ADDRESSES="1")
    owner = json.loads((await _run("credentials", "--json", env=env)).stdout)
    creds = Credentials(owner["id"], owner["hawk_key"])
    served = await serve(env, port)
    proc = served.proc
    base = f"http://127.0.0.1:{port}"
    alice_q = quote(alice.entity, safe="")
    try:
        async with aiohttp.ClientSession() as session:

            async def get(path: str) -> aiohttp.ClientResponse:
                auth = hawk.sign_request(creds, method="GET", url=base + path)
                return await session.get(URL(base + path, encoded=True), headers={"Authorization": auth})

            # warm up: discovery of alice and the outgoing connection pool
            warm = await get(f"/posts/{alice_q}/{post['id']}")
            assert warm.status == 200
            before = peak_rss(proc.pid)
            check, total = hashlib.sha512(), 0
            async with await get(f"/attachments/{alice_q}/{digest}") as resp:
                assert resp.status == 200
                assert resp.headers["Content-Length"] == str(SIZE)
                assert "Server-Authorization" in resp.headers
                async for chunk in resp.content.iter_chunked(1 << 20):
                    check.update(chunk)
                    total += len(chunk)
            after = peak_rss(proc.pid)
        assert total == SIZE and check.hexdigest()[:64] == digest
        print(f"proxy peak RSS: before {before >> 20} MB, after proxying 50 MB {after >> 20} MB")
        assert after - before < BOUND
    finally:
        await served.stop()
