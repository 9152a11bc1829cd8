"""Hostile input, class by class: each gets a clear 4xx JSON error that names what was
wrong, raised where the input is read; nothing is stored, nothing is logged as a crash, and
the server keeps answering."""

from __future__ import annotations

import gzip
import json

import pytest

from tests.conftest import POST_MT, STATUS, Tent
from tests.hostile_helpers import (
    ERROR_MT,
    LogWatch,
    assert_json_error,
    raw_http,
    send,
    signer_for,
    status_of,
)

CT = f'{POST_MT}; type="{STATUS}"'


async def _post(tent: Tent, body: bytes, *, signed: bool = True, headers: dict[str, str] | None = None):
    return await send(
        tent.session,
        tent.base,
        "POST",
        "/posts",
        body=body,
        headers={"Content-Type": CT, **(headers or {})},
        signer=signer_for(tent.owner) if signed else None,
    )


async def _get(tent: Tent, target: str, *, signed: bool = True, headers: dict[str, str] | None = None):
    return await send(
        tent.session,
        tent.base,
        "GET",
        target,
        headers=headers,
        signer=signer_for(tent.owner) if signed else None,
    )


async def _feed_size(tent: Tent) -> int:
    return len((await tent.feed("?limit=200"))["posts"])


def _status_with(extra: str) -> bytes:
    return ('{"type": "' + STATUS + '", "content": {"text": "hi"' + extra + "}}").encode()


# --- deep nesting ----------------------------------------------------------------------


async def test_json_nested_deeper_than_64_levels_is_400_and_stores_nothing(tent: Tent) -> None:
    before = await _feed_size(tent)
    deep = '"x": ' + "[" * 64 + "]" * 64
    error = assert_json_error(*await _post(tent, _status_with(", " + deep)))
    assert error["error"].startswith("JSON nested deeper than 64 levels at /content/x/0/0")
    assert await _feed_size(tent) == before


async def test_json_nested_within_the_bound_is_accepted(tent: Tent) -> None:
    note = "https://example.com/types/note/v0#"
    body = ('{"type": "' + note + '", "content": {"x": ' + "[" * 60 + "]" * 60 + "}}").encode()
    status, _, raw = await _post(tent, body, headers={"Content-Type": f'{POST_MT}; type="{note}"'})
    assert status == 200, raw


async def test_json_nested_thousands_of_levels_is_400_not_a_recursion_error(tent: Tent) -> None:
    with LogWatch() as logs:
        for depth in (900, 5000):
            error = assert_json_error(*await _post(tent, _status_with(', "x": ' + "[" * depth + "]" * depth)))
            assert "nested deeper than 64 levels" in error["error"]
    assert logs.problems() == []


# --- characters PostgreSQL cannot store --------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_status_with(', "x": "a\\u0000b"'), "/content/x"),
        (('{"type": "' + STATUS + '\\u0000", "content": {"text": "hi"}}').encode(), "/type"),
        (_status_with(', "a\\u0000b": 1'), "a member name in /content"),
        (
            _status_with('}, "mentions": [{"entity": "https://bob.example\\u0000"}], "x": {'),
            "/mentions/0/entity",
        ),
        (_status_with('}, "refs": [{"post": "p\\u0000"}], "x": {'), "/refs/0/post"),
        (_status_with('}, "version": {"message": "m\\u0000"}, "x": {'), "/version/message"),
    ],
)
async def test_nul_anywhere_in_a_post_is_400_naming_the_field(tent: Tent, body: bytes, field: str) -> None:
    error = assert_json_error(*await _post(tent, body))
    assert error["error"] == f"{field} contains NUL (U+0000)"


async def test_lone_surrogate_in_a_post_is_400_naming_the_field(tent: Tent) -> None:
    for signed in (True, False):
        error = assert_json_error(
            *await _post(tent, _status_with(', "x": ["ok", "a\\ud800b"]'), signed=signed)
        )
        assert error["error"].startswith("/content/x/1 contains a lone surrogate (U+D800)")


async def test_nul_in_a_query_parameter_is_400_naming_it(tent: Tent) -> None:
    for target in ("/posts?entities=%00", "/posts?types=https://a.example/v0%23%00", "/deliveries?post=a%00"):
        error = assert_json_error(*await _get(tent, target))
        assert "contains NUL (U+0000)" in error["error"] and "query parameter" in error["error"]


async def test_nul_or_invalid_utf8_in_a_post_path_is_400(tent: Tent) -> None:
    entity = "http%3A%2F%2F127.0.0.1"
    for target, message in (
        (f"/posts/{entity}%00/x", "the path contains NUL (U+0000)"),
        (f"/posts/{entity}/x%00", "the path contains NUL (U+0000)"),
        (f"/posts/{entity}/%ED%A0%80", "the path is not valid UTF-8 after percent-decoding"),
        ("/oauth/requests/1%00", "the path contains NUL (U+0000)"),
    ):
        error = assert_json_error(*await _get(tent, target))
        assert error["error"] == message


async def test_invalid_utf8_in_a_header_value_is_400_naming_the_header(tent: Tent) -> None:
    raw = await raw_http(tent.settings.port, b"GET /posts HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: \xff\xfe")
    assert status_of(raw) == 400 and ERROR_MT.encode() in raw, raw
    assert b"Header Accept contains a lone surrogate" in raw


# --- Content-Encoding ----------------------------------------------------------------------


@pytest.mark.parametrize("coding", ["gzip", "br", "x-unknown", "deflate, gzip"])
async def test_compressed_request_bodies_are_415_with_accept_encoding_identity(
    tent: Tent, coding: str
) -> None:
    body = gzip.compress(_status_with(""))
    status, headers, raw = await _post(tent, body, headers={"Content-Encoding": coding})
    error = assert_json_error(status, headers, raw)
    assert status == 415 and headers["Accept-Encoding"] == "identity"
    assert error["error"] == f"Content-Encoding {coding} is not accepted: send the request body uncompressed"


async def test_corrupt_gzip_body_is_refused_before_anything_decodes_it(tent: Tent) -> None:
    with LogWatch() as logs:
        status, headers, raw = await _post(
            tent, b"\x1f\x8bnot gzip at all", headers={"Content-Encoding": "gzip"}
        )
    assert status == 415 and assert_json_error(status, headers, raw)
    assert logs.problems() == []


async def test_identity_content_encoding_is_accepted(tent: Tent) -> None:
    status, _, body = await _post(tent, _status_with(""), headers={"Content-Encoding": "identity"})
    assert status == 200, body


# --- paths and URLs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target", ["/posts/http%3A%2F%2Fa.example/%ZZ", "/posts/%E0%A4/x", "/posts?limit=%2"]
)
async def test_malformed_percent_encoding_is_400(tent: Tent, target: str) -> None:
    error = assert_json_error(*await _get(tent, target))
    assert "percent" in error["error"]


@pytest.mark.parametrize(
    "entity", ["http%3A%2F%2F%5B%3A%3A1", "http%3A%2F%2Fa.example%3A99999", "http%3A%2F%2F"]
)
async def test_unparsable_entity_url_in_a_post_path_is_404(tent: Tent, entity: str) -> None:
    for signed in (True, False):
        status, headers, body = await _get(tent, f"/posts/{entity}/x", signed=signed)
        assert status == 404 and assert_json_error(status, headers, body) == {"error": "Not Found"}


async def test_invalid_ipv6_literal_for_discover_is_400(tent: Tent) -> None:
    error = assert_json_error(*await _get(tent, "/discover?entity=http://[::1"))
    assert error["error"] == 'Entity param must be a valid url: "http://[::1"'


async def test_invalid_ipv6_literal_in_a_mention_is_a_schema_error(tent: Tent) -> None:
    body = _status_with('}, "mentions": [{"entity": "http://[::1"}], "x": {')
    error = assert_json_error(*await _post(tent, body))
    assert error["diff"][0]["path"] == "/mentions/0/entity" and error["diff"][0]["format"] == "uri"


async def test_invalid_host_header_is_400(tent: Tent) -> None:
    raw = await raw_http(tent.settings.port, b"GET /posts HTTP/1.1\r\nHost: [::1")
    assert status_of(raw) == 400 and b"Invalid Host header" in raw, raw


# --- truncated and invalid bodies ----------------------------------------------------------


async def test_truncated_body_from_a_client_that_goes_away_logs_no_traceback(tent: Tent) -> None:
    head = (
        b"POST /posts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
        + CT.encode()
        + b"\r\nContent-Length: 500"
    )
    with LogWatch() as logs:
        await raw_http(tent.settings.port, head, b'{"type": "', close_early=True)
        assert (await tent.client.get("/posts")).status == 200  # the server carries on
    assert logs.problems() == []


async def test_broken_chunked_encoding_is_400_logged_on_one_line(tent: Tent) -> None:
    head = b"POST /posts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
    with LogWatch() as logs:
        raw = await raw_http(tent.settings.port, head + b"\r\nTransfer-Encoding: chunked", b"zz\r\nabc\r\n")
    assert status_of(raw) == 400, raw
    assert logs.problems() == []
    assert any("refused a malformed HTTP request" in r.getMessage() for r in logs.records)


async def test_chunked_body_that_ends_early_is_400(tent: Tent) -> None:
    head = (
        b"POST /posts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
        + CT.encode()
        + b"\r\nTransfer-Encoding: chunked"
    )
    with LogWatch() as logs:
        raw = await raw_http(tent.settings.port, head, b'5\r\n{"typ\r\n0\r\n\r\n')
    assert status_of(raw) == 400, raw
    assert logs.problems() == []


# --- numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "?since=-9223372036854775809",
        "?before=9223372036854775808",
        "?until=253402300800000",
        "?since=-1",
        "?before=99999999999999999999999999+abc",
    ],
)
async def test_out_of_range_feed_positions_are_400_before_any_sql(tent: Tent, query: str) -> None:
    with LogWatch() as logs:
        error = assert_json_error(*await _get(tent, "/posts" + query))
    assert "Invalid" in error["error"] and logs.problems() == []


async def test_non_numeric_limit_like_1e400_is_400(tent: Tent) -> None:
    error = assert_json_error(*await _get(tent, "/posts?limit=1e400"))
    assert error["error"].startswith("Invalid limit")


async def test_timestamp_past_year_9999_in_a_post_is_400_with_diff(tent: Tent) -> None:
    error = assert_json_error(*await _post(tent, _status_with('}, "published_at": 253402300800000, "x": {')))
    assert error["diff"][0]["path"] == "/published_at" and error["diff"][0]["maximum"] == 253402300799999


async def test_integer_beyond_64_bits_in_a_post_is_400_naming_it(tent: Tent) -> None:
    error = assert_json_error(*await _post(tent, _status_with(', "n": 18446744073709551615')))
    assert error["error"] == "/content/n is out of range: integers must fit in 64 bits"


async def test_huge_ids_in_paths_are_404_not_a_database_error(tent: Tent) -> None:
    with LogWatch() as logs:
        status, headers, body = await send(
            tent.session,
            tent.base,
            "POST",
            "/deliveries/99999999999999999999999/retry",
            signer=signer_for(tent.owner),
        )
        assert status == 404 and assert_json_error(status, headers, body), body
        status, headers, body = await _get(tent, "/oauth/requests/99999999999999999999999")
        assert status == 404 and assert_json_error(status, headers, body)
        error = assert_json_error(*await _get(tent, "/oauth/requests?before=99999999999999999999"))
        assert error["error"].startswith("Invalid before")
    assert logs.problems() == []


# --- headers --------------------------------------------------------------------------------


async def test_duplicated_authorization_header_is_400(tent: Tent) -> None:
    head = (
        b'GET /posts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Hawk id="a"\r\nAuthorization: Hawk id="b"'
    )
    raw = await raw_http(tent.settings.port, head)
    assert status_of(raw) == 400 and b"Header Authorization given more than once" in raw, raw


async def test_over_long_header_value_is_400_json(tent: Tent) -> None:
    error = assert_json_error(*await _get(tent, "/posts", headers={"Accept": "a/b, " * 2000}))
    assert error["error"] == "Header Accept is longer than 8192 bytes"


@pytest.mark.parametrize(
    "authorization",
    ['Hawk id="x"', "Hawk garbage", 'Hawk id="a", ts="1", nonce="n", mac="m", mac="m"', "Basic dXNlcjpw"],
)
async def test_malformed_hawk_header_is_403(tent: Tent, authorization: str) -> None:
    status, headers, body = await _get(tent, "/posts", signed=False, headers={"Authorization": authorization})
    assert status == 403, body
    assert assert_json_error(status, headers, body)["error"].startswith("Authentication failure")


async def test_garbage_accept_header_gets_the_post_not_an_error(tent: Tent) -> None:
    post = await tent.status("hello")
    status, _, body = await _get(tent, tent.post_path(post["id"]), headers={"Accept": ";;;q=x,,,*/*;q=nan"})
    assert status == 200 and json.loads(body)["post"]["id"] == post["id"]


# --- multipart ------------------------------------------------------------------------------

BOUNDARY = "hostile-boundary"


def _multipart(*parts: bytes, epilogue: bytes = b"") -> bytes:
    post = ('{"type": "' + STATUS + '", "content": {"text": "with a file"}}').encode()
    first = (
        b'Content-Disposition: form-data; name="post"\r\nContent-Type: ' + CT.encode() + b"\r\n\r\n" + post
    )
    out = b"".join(b"--" + BOUNDARY.encode() + b"\r\n" + p + b"\r\n" for p in (first, *parts))
    return out + b"--" + BOUNDARY.encode() + b"--\r\n" + epilogue


def _file_part(disposition: bytes, data: bytes = b"bytes", extra: bytes = b"") -> bytes:
    return (
        b"Content-Disposition: form-data; "
        + disposition
        + b"\r\nContent-Type: image/png\r\n"
        + extra
        + b"\r\n"
        + data
    )


async def _post_multipart(tent: Tent, body: bytes):
    return await send(
        tent.session,
        tent.base,
        "POST",
        "/posts",
        body=body,
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        signer=signer_for(tent.owner),  # payload hash over the whole multipart body
    )


@pytest.mark.parametrize(
    ("disposition", "message"),
    [
        (
            b"name=\"photo[0]\"; filename*=UTF-8''a%00b.png",
            "The filename of multipart part 'photo[0]' contains NUL",
        ),
        (
            b'name="photo[0]"; filename="a\xed\xa0\x80.png"',
            "Multipart part 'photo[0]' header Content-Disposition contains a lone surrogate",
        ),
        (
            b'name="photo[0]"; filename="' + b"f" * 5000 + b'"',
            "The filename of multipart part 'photo[0]' is too long",
        ),
        (
            b'name="ph\xff"; filename="a.png"',
            "Multipart part 'ph\\udcff' header Content-Disposition contains a lone surrogate",
        ),
        (b'name="' + b"c" * 1000 + b'"; filename="a.png"', "The field name of multipart part"),
        (b'name="photo[0]"', "The multipart part 'photo[0]' has no filename"),
    ],
)
async def test_hostile_multipart_file_parts_are_400_naming_the_part(
    tent: Tent, disposition: bytes, message: str
) -> None:
    before = await _feed_size(tent)
    error = assert_json_error(*await _post_multipart(tent, _multipart(_file_part(disposition))))
    assert error["error"].startswith(message), error
    assert await _feed_size(tent) == before


@pytest.mark.parametrize(
    "part",
    [
        _file_part(b'name="photo[0]"; filename="' + b"f" * 10_000 + b'"'),  # a header past 8190 bytes
        _file_part(b'name="photo[0]"; filename="a.png"', extra=b"X-Huge: " + b"h" * 20_000 + b"\r\n"),
        _file_part(b'name="photo[0]"; filename="a.png"', extra=b"this is no header at all\r\n"),
        b"\x00\x01\x02 garbage\r\n\r\nbytes",
    ],
)
async def test_huge_or_garbage_multipart_part_headers_are_400(tent: Tent, part: bytes) -> None:
    before = await _feed_size(tent)
    with LogWatch() as logs:
        assert_json_error(*await _post_multipart(tent, _multipart(part)))
    assert logs.problems() == []
    assert await _feed_size(tent) == before


async def test_parts_after_the_closing_boundary_are_ignored_as_the_epilogue(tent: Tent) -> None:
    stray = b"--" + BOUNDARY.encode() + b"\r\n" + _file_part(b'name="stray"; filename="stray.png"') + b"\r\n"
    body = _multipart(_file_part(b'name="photo[0]"; filename="a.png"'), epilogue=stray)
    status, _, raw = await _post_multipart(tent, body)
    assert status == 200, raw
    attachments = json.loads(raw)["post"]["attachments"]
    assert [(a["category"], a["name"]) for a in attachments] == [("photo", "a.png")]
