"""A 50 MB upload is streamed to storage: the server's peak memory stays within a bound,
with the payload hash every standard Hawk client sends (checked while the body streams).

The server runs as its own process (`tent serve`) so its peak resident set (VmHWM) is
measured alone. Documented bound: the upload and the download together raise the peak by
less than 30 MB (the bytes move in 256 KiB chunks; without streaming a 50 MB file alone
would add 50 MB or more).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

import aiohttp
from yarl import URL

from tent.auth.hawk import Credentials
from tests.memory_helpers import BOUND, PHOTO, SIZE, generated, peak_rss
from tests.processes import free_port as _free_port
from tests.processes import run_tent as _run
from tests.processes import serve
from tests.processes import tent_env as _env
from tests.signing import sign


class _FileSink:
    """Where aiohttp's MultipartWriter serialises the body: a file, so the test process
    never holds the 50 MB either."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file

    async def write(self, data: bytes) -> None:
        self.file.write(data)


async def test_fifty_megabyte_upload_with_a_payload_hash_streams_with_bounded_memory(
    new_database, tmp_path: Path
) -> None:
    port = _free_port()
    env = _env(TENT_DATABASE_URL=await new_database(), TENT_PORT=str(port))
    creds_out = await _run("credentials", "--json", env=env)
    owner = json.loads(creds_out.stdout)
    creds = Credentials(owner["id"], owner["hawk_key"])
    served = await serve(env, port)
    proc = served.proc
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            url = base + "/posts"
            await session.get(url, headers={"Authorization": sign(creds, "GET", url)})
            before = peak_rss(proc.pid)
            hasher = hashlib.sha512()
            writer = aiohttp.MultipartWriter("form-data")
            part = writer.append_json(
                {"type": PHOTO}, {"Content-Type": f'application/vnd.tent.post.v0+json; type="{PHOTO}"'}
            )
            part.set_content_disposition("form-data", name="post", filename="post.json")
            part = writer.append(generated(SIZE, hasher), {"Content-Type": "application/octet-stream"})
            part.set_content_disposition("form-data", name="photo[0]", filename="big.bin")
            body_file = tmp_path / "body"
            with body_file.open("wb") as f:
                await writer.write(_FileSink(f))  # type: ignore[arg-type]
            with body_file.open("rb") as f:  # mohawk hashes the whole body, block by block
                auth = sign(creds, "POST", url, f, writer.content_type, app=owner["app_id"])
            assert 'hash="' in auth
            with body_file.open("rb") as f:
                async with session.post(
                    url, data=f, headers={"Authorization": auth, "Content-Type": writer.content_type}
                ) as resp:
                    assert resp.status == 200, await resp.text()
                    post = (await resp.json())["post"]
            [attachment] = post["attachments"]
            assert attachment["size"] == SIZE
            assert attachment["digest"] == hasher.hexdigest()[:64]
            after_upload = peak_rss(proc.pid)

            path = f"/attachments/{quote(owner['entity'], safe=':')}/{attachment['digest']}"
            get_auth = sign(creds, "GET", base + path)
            check, total = hashlib.sha512(), 0
            async with session.get(
                URL(base + path, encoded=True), headers={"Authorization": get_auth}
            ) as resp:
                assert resp.status == 200
                async for chunk in resp.content.iter_chunked(1 << 20):
                    check.update(chunk)
                    total += len(chunk)
            assert total == SIZE and check.hexdigest()[:64] == attachment["digest"]
            after_download = peak_rss(proc.pid)
        print(
            f"peak RSS: before {before >> 20} MB, after upload {after_upload >> 20} MB, "
            f"after download {after_download >> 20} MB"
        )
        assert after_upload - before < BOUND
        assert after_download - before < BOUND
    finally:
        await served.stop()
