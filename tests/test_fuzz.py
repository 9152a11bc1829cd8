"""A bounded property-based fuzz suite: hostile variants of real requests on every route,
over real HTTP to a running server, signed (Hawk by mohawk's Sender, payload hash
included) and anonymous.

Each example must get an answer below 500; a 4xx must carry the protocol's JSON error
(the owner's browser pages answer in HTML); a refused write must store nothing; nothing
may be logged as an error or with a traceback; and the signed request that follows must
still work. The profile comes from TENT_FUZZ_PROFILE: `ci` (the default) runs a fixed,
derandomized set of examples in well under a minute; `dev` runs many more, randomly.
Each test prints its counts (run with `-s` to see them).
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from tests.conftest import Tent
from tests.fuzz_strategies import (
    BOUNDARY,
    POST_MT,
    STATUS,
    Fixtures,
    Request,
    _part,
    dumps,
    form_requests,
    header_requests,
    json_requests,
    multipart_requests,
    query_requests,
    real_post,
    seeds,
)
from tests.hostile_helpers import ERROR_MT, LogWatch, send, signer_for

settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("TENT_FUZZ_EXAMPLES", "60")),
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
settings.register_profile(
    "dev",
    max_examples=int(os.environ.get("TENT_FUZZ_EXAMPLES", "1000")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
PROFILE = settings.get_profile(os.environ.get("TENT_FUZZ_PROFILE", "ci"))
HTML_PAGES = ("/owner", "/oauth/authorize")  # the owner's browser pages answer in HTML


async def _fixtures(tent: Tent) -> Fixtures:
    """A real post with an attachment for the requests to refer to."""
    b = BOUNDARY.encode()
    post = _part(
        b'name="post"', f'{POST_MT}; type="{STATUS}"'.encode(), dumps({**real_post(), "mentions": []})
    )
    photo = _part(b'name="photo[0]"; filename="a.png"', b"image/png", b"png bytes")
    body = b"".join(b"--" + b + b"\r\n" + p + b"\r\n" for p in (post, photo)) + b"--" + b + b"--\r\n"
    status, _, raw = await send(
        tent.session,
        tent.base,
        "POST",
        "/posts",
        body=body,
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        signer=signer_for(tent.owner),
    )
    assert status == 200, raw
    created = orjson.loads(raw)["post"]
    return Fixtures(
        quote(tent.entity, safe=""),
        created["id"],
        created["version"]["id"],
        created["attachments"][0]["digest"],
    )


async def _status_count(tent: Tent) -> int:
    status, headers, _ = await send(
        tent.session, tent.base, "HEAD", f"/posts?types={quote(STATUS)}", signer=signer_for(tent.owner)
    )
    assert status == 200
    return int(headers["Count"])


def _is_html_page(req: Request, headers: dict[str, str]) -> bool:
    path = req.target.split("?", 1)[0]
    return headers.get("Content-Type", "").startswith("text/html") and path.startswith(HTML_PAGES)


async def _fuzz(tent: Tent, name: str, strategy: Callable[[Fixtures], st.SearchStrategy[Request]]) -> None:
    loop = asyncio.get_running_loop()
    fx = await _fixtures(tent)
    signer = signer_for(tent.owner)
    counts: Counter[str] = Counter()

    def call(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(60)

    with LogWatch() as logs:

        def probe(req: Request) -> None:
            writes = req.method in ("POST", "PUT") and req.target.startswith("/posts")
            before = call(_status_count(tent)) if writes else 0
            try:
                status, headers, body = call(
                    send(
                        tent.session,
                        tent.base,
                        req.method,
                        req.target,
                        body=req.body,
                        headers=req.headers,
                        signer=signer if req.signed else None,
                        payload_hash=req.payload_hash,
                    )
                )
            except (ValueError, aiohttp.InvalidURL):
                reject()  # the HTTP library itself refuses to send it
            counts["requests"] += 1
            counts["signed" if req.signed else "anonymous"] += 1
            counts[f"{status // 100}xx"] += 1
            assert status < 500, (req, status, body[:300])
            if 400 <= status < 500 and req.method != "HEAD" and not _is_html_page(req, headers):
                assert headers.get("Content-Type", "").startswith(ERROR_MT), (
                    req,
                    status,
                    headers,
                    body[:300],
                )
                error = orjson.loads(body)
                assert isinstance(error.get("error"), str) and error["error"], (req, body[:300])
            if writes and status >= 400:
                assert call(_status_count(tent)) == before, ("a refused write stored a post", req, body[:300])
            assert logs.problems() == [], (req, status, logs.problems())
            follow, _, follow_body = call(
                send(tent.session, tent.base, "GET", "/posts?limit=1", signer=signer)
            )
            assert follow == 200, (req, follow, follow_body[:300])

        def run() -> None:
            for req in seeds(name, fx):  # one known-hostile request per class first
                probe(req)
            counts["seeds"] = counts["requests"]
            PROFILE(given(strategy(fx))(probe))()

        await asyncio.to_thread(run)
    print(f"\nfuzz[{name}]: {dict(sorted(counts.items()))}")
    assert counts["requests"] > 0 and counts.get("5xx", 0) == 0


@pytest.fixture
async def fuzz_tent(make_server: Callable[..., Any]) -> Tent:
    # Posts mention a closed loopback port: their deliveries fail, and are retried only later.
    return await make_server(delivery_retry_base=600)


async def test_fuzz_json_bodies_on_every_write_route(fuzz_tent: Tent) -> None:
    await _fuzz(fuzz_tent, "json", json_requests)


async def test_fuzz_query_strings_and_paths_on_every_route(fuzz_tent: Tent) -> None:
    await _fuzz(fuzz_tent, "query", query_requests)


async def test_fuzz_owner_forms(fuzz_tent: Tent) -> None:
    await _fuzz(fuzz_tent, "form", form_requests)


async def test_fuzz_multipart_bodies(fuzz_tent: Tent) -> None:
    await _fuzz(fuzz_tent, "multipart", multipart_requests)


async def test_fuzz_headers(fuzz_tent: Tent) -> None:
    await _fuzz(fuzz_tent, "headers", header_requests)
