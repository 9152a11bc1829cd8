"""Hawk primitives: the Tent test vectors of docs/protocol.md §4.10 and the failure modes of §4.6–4.9."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import mohawk.util
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tent.auth.hawk import (
    Credentials,
    HawkError,
    RequestAuth,
    _mac,
    bewit_url,
    make_bewit,
    parse_authorization,
    sign_request,
    sign_response,
    strip_bewit,
    verify_bewit,
    verify_request,
    verify_response,
)

# §4.10 inputs
CREDS = Credentials(id="exqbZWtykFZIh2D7cXi9dA", key="HX9QcbD-r3ItFEnRcAuOSg")
TS = 1368996800
NONCE = "3yuYCD4Z"
APP = "wn6yzHGe5TLaT-fvOPbAyQ"
CT = "application/vnd.tent.post.v0+json"
BODY = b'{"type":"https://tent.io/types/status/v0#"}'
URL_POSTS = "https://example.com/posts"

# §4.10 results
PAYLOAD_HASH = "neQFHgYKl/jFqDINrC21uLS0gkFglTz789rzcSr7HYU="
APP_REQUEST_MAC = "2sttHCQJG9ejj1x7eCi35FP23Miu9VtlaUgwk68DTpM="
APP_RESPONSE_MAC = "lTG3kTBr33Y97Q4KQSSamu9WY/mOUKnZzq/ho9x+yxw="
REL_REQUEST_MAC = "OO2ldBDSw8KmNHlEdTC4BciIl8+uiuCRvCnJ9KkcR3Y="
REL_RESPONSE_MAC = "LvxASIZ2gop5cwE2mNervvz6WXkPmVslwm11MDgEZ5E="
TSM = "HPDcD5S3Kw7LM/oyoXKcgv2Z30RnOLAI5ebXpYDGfo4="
BEWIT_MAC = "O0mhprgoXqF48Dlw5FWAWvVQIpgGYsqsX76tpo6KyqI="
BEWIT = (
    "ZXhxYlpXdHlrRlpJaDJEN2NYaTlkQVwxMzY4OTk2ODAwXE8wbWhwcmdvWHFGNDhEbHc1RldBV3ZWUUlwZ0dZ"
    "c3FzWDc2dHBvNkt5cUk9XA"
)

SERVER = {"host": "example.com", "port": 443}


def attrs(header: str) -> dict[str, str]:
    return dict(mohawk.util.parse_authorization_header(header))


def lookup_creds(key_id: str) -> Credentials | None:
    return CREDS if key_id == CREDS.id else None


def failure(exc_info: pytest.ExceptionInfo[HawkError]) -> tuple[int, str]:
    return exc_info.value.status, exc_info.value.message


# --------------------------------------------------------------------------- §4.10 test vectors


def test_vector_payload_hash() -> None:
    header = sign_request(
        CREDS, method="POST", url=URL_POSTS, content=BODY, content_type=CT, ts=TS, nonce=NONCE
    )
    assert attrs(header)["hash"] == PAYLOAD_HASH


def test_vector_payload_hash_ignores_content_type_parameters() -> None:
    header = sign_request(
        CREDS,
        method="POST",
        url=URL_POSTS,
        content=BODY,
        content_type=' Application/Vnd.Tent.Post.v0+json; type="https://tent.io/types/status/v0#"',
        ts=TS,
        nonce=NONCE,
    )
    assert attrs(header)["hash"] == PAYLOAD_HASH


def test_vector_app_request_mac_with_hash() -> None:
    header = sign_request(
        CREDS, method="POST", url=URL_POSTS, content=BODY, content_type=CT, app=APP, ts=TS, nonce=NONCE
    )
    parsed = attrs(header)
    assert parsed["mac"] == APP_REQUEST_MAC
    assert parsed["app"] == APP
    auth = parse_authorization(header)
    verify_request(auth, CREDS, method="POST", uri="/posts", content=BODY, content_type=CT, now=TS, **SERVER)


def test_vector_app_response_mac_without_hash() -> None:
    auth = RequestAuth(id=CREDS.id, ts=TS, nonce=NONCE, mac=APP_REQUEST_MAC, hash=PAYLOAD_HASH, app=APP)
    header = sign_response(
        auth, CREDS, method="POST", uri="/posts", content=None, content_type=None, **SERVER
    )
    assert header == f'Hawk mac="{APP_RESPONSE_MAC}"'


def test_vector_relationship_request_mac_without_app_or_hash() -> None:
    header = sign_request(
        CREDS,
        method="POST",
        url=URL_POSTS,
        content=BODY,
        content_type=CT,
        ts=TS,
        nonce=NONCE,
        include_hash=False,
    )
    parsed = attrs(header)
    assert parsed["mac"] == REL_REQUEST_MAC
    assert "hash" not in parsed and "app" not in parsed
    auth = parse_authorization(header)
    # Tent accepts a body without a payload hash (§4.5).
    verify_request(auth, CREDS, method="POST", uri="/posts", content=BODY, content_type=CT, now=TS, **SERVER)


def test_vector_relationship_response_mac_with_hash() -> None:
    auth = RequestAuth(id=CREDS.id, ts=TS, nonce=NONCE, mac=REL_REQUEST_MAC)
    header = sign_response(auth, CREDS, method="POST", uri="/posts", content=BODY, content_type=CT, **SERVER)
    assert header == f'Hawk mac="{REL_RESPONSE_MAC}", hash="{PAYLOAD_HASH}"'


def test_vector_tsm_in_stale_timestamp_challenge() -> None:
    auth = parse_authorization(sign_request(CREDS, method="GET", url=URL_POSTS, ts=TS - 3600, nonce=NONCE))
    with pytest.raises(HawkError) as exc_info:
        verify_request(
            auth, CREDS, method="GET", uri="/posts", content=None, content_type=None, now=TS, **SERVER
        )
    assert exc_info.value.www_authenticate == f'Hawk ts="{TS}", tsm="{TSM}", error="Stale timestamp"'


def test_vector_bewit_mac_and_string() -> None:
    bewit = make_bewit(CREDS, url=URL_POSTS, exp=TS)
    assert bewit == BEWIT
    padded = bewit + "=" * (-len(bewit) % 4)
    assert base64.urlsafe_b64decode(padded).decode() == f"{CREDS.id}\\{TS}\\{BEWIT_MAC}\\"
    assert verify_bewit(bewit, lookup_creds, uri_without_bewit="/posts", now=TS, **SERVER) == CREDS


# --------------------------------------------------------------------------- requests


def test_signed_request_round_trips_through_verify() -> None:
    url = "https://tent.example.org:8443/posts?limit=5&types=https%3A%2F%2Ftent.io%2Ftypes%2Fstatus%2Fv0"
    header = sign_request(CREDS, method="post", url=url, content=BODY, content_type=CT, app=APP, ts=TS + 7)
    auth = parse_authorization(header)
    assert (auth.id, auth.ts, auth.app, auth.hash) == (CREDS.id, TS + 7, APP, PAYLOAD_HASH)
    verify_request(
        auth,
        CREDS,
        method="POST",
        uri="/posts?limit=5&types=https%3A%2F%2Ftent.io%2Ftypes%2Fstatus%2Fv0",
        host="tent.example.org",
        port=8443,
        content=BODY,
        content_type=CT,
        now=TS,
    )


def test_tampered_body_with_hash_is_invalid_hash() -> None:
    auth = parse_authorization(
        sign_request(CREDS, method="POST", url=URL_POSTS, content=BODY, content_type=CT, ts=TS, nonce=NONCE)
    )
    with pytest.raises(HawkError) as exc_info:
        verify_request(
            auth, CREDS, method="POST", uri="/posts", content=BODY + b" ", content_type=CT, now=TS, **SERVER
        )
    assert failure(exc_info) == (403, "Authentication failure: Invalid hash")


def test_wrong_key_is_invalid_mac_without_leaking_the_normalized_string() -> None:
    forged = Credentials(id=CREDS.id, key="not-the-key")
    auth = parse_authorization(sign_request(forged, method="GET", url=URL_POSTS, ts=TS, nonce=NONCE))
    with pytest.raises(HawkError) as exc_info:
        verify_request(
            auth, CREDS, method="GET", uri="/posts", content=None, content_type=None, now=TS, **SERVER
        )
    assert failure(exc_info) == (403, "Authentication failure: Invalid mac")
    assert "hawk.1" not in str(exc_info.value) and exc_info.value.body() == {
        "error": "Authentication failure: Invalid mac"
    }


def test_mac_covers_method_uri_host_and_port() -> None:
    auth = parse_authorization(sign_request(CREDS, method="GET", url=URL_POSTS, ts=TS, nonce=NONCE))
    variants = [
        {"method": "HEAD", "uri": "/posts", **SERVER},
        {"method": "GET", "uri": "/posts?x=1", **SERVER},
        {"method": "GET", "uri": "/posts", "host": "example.org", "port": 443},
        {"method": "GET", "uri": "/posts", "host": "example.com", "port": 8080},
    ]
    for variant in variants:
        with pytest.raises(HawkError, match="Invalid mac"):
            verify_request(auth, CREDS, content=None, content_type=None, now=TS, **variant)


def test_stale_timestamp_is_401_with_a_challenge_whose_tsm_verifies() -> None:
    auth = parse_authorization(sign_request(CREDS, method="GET", url=URL_POSTS, ts=TS, nonce=NONCE))
    now = TS + 61.9
    with pytest.raises(HawkError) as exc_info:
        verify_request(
            auth, CREDS, method="GET", uri="/posts", content=None, content_type=None, now=now, **SERVER
        )
    assert failure(exc_info) == (401, "Authentication failure: Stale timestamp")
    assert exc_info.value.headers == {"WWW-Authenticate": exc_info.value.www_authenticate}
    assert exc_info.value.body() == {"error": "Authentication failure: Stale timestamp"}
    challenge = attrs(exc_info.value.www_authenticate or "")
    assert challenge["ts"] == str(int(now))
    assert challenge["error"] == "Stale timestamp"
    expected_tsm = mohawk.util.calculate_ts_mac(challenge["ts"], {"key": CREDS.key, "algorithm": "sha256"})
    assert challenge["tsm"] == expected_tsm.decode()


def test_timestamp_exactly_at_skew_is_accepted_and_future_stale_is_refused() -> None:
    auth = parse_authorization(sign_request(CREDS, method="GET", url=URL_POSTS, ts=TS, nonce=NONCE))
    common = {"method": "GET", "uri": "/posts", "content": None, "content_type": None, **SERVER}
    verify_request(auth, CREDS, now=TS + 60, **common)
    verify_request(auth, CREDS, now=TS - 60, **common)
    with pytest.raises(HawkError) as exc_info:
        verify_request(auth, CREDS, now=TS - 61, **common)
    assert exc_info.value.status == 401


def test_percent_encoded_path_signs_and_verifies_on_raw_bytes() -> None:
    raw = "/posts/http%3A%2F%2Fexample.org/abc"
    header = sign_request(CREDS, method="GET", url="https://example.com" + raw, ts=TS, nonce=NONCE)
    auth = parse_authorization(header)
    verify_request(auth, CREDS, method="GET", uri=raw, content=None, content_type=None, now=TS, **SERVER)
    with pytest.raises(HawkError, match="Invalid mac"):
        verify_request(
            auth,
            CREDS,
            method="GET",
            uri="/posts/http://example.org/abc",
            content=None,
            content_type=None,
            now=TS,
            **SERVER,
        )


def test_default_ports_come_from_the_scheme() -> None:
    for url, port in [("http://example.com/posts", 80), ("https://example.com/posts", 443)]:
        auth = parse_authorization(sign_request(CREDS, method="GET", url=url, ts=TS, nonce=NONCE))
        server = {"host": "example.com", "port": port}
        verify_request(
            auth, CREDS, method="GET", uri="/posts", content=None, content_type=None, now=TS, **server
        )


# --------------------------------------------------------------------------- header parsing


def test_parse_authorization_reads_all_attributes_in_any_order() -> None:
    header = f'Hawk mac="m+/=", app="{APP}", ts="{TS}", hash="h", nonce="{NONCE}", id="{CREDS.id}", ext="e x"'
    assert parse_authorization(header) == RequestAuth(
        id=CREDS.id, ts=TS, nonce=NONCE, mac="m+/=", hash="h", ext="e x", app=APP
    )


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (f'Hawk ts="{TS}", nonce="n", mac="m"', "Missing id"),
        ('Hawk id="a", nonce="n", mac="m", ts=""', "Missing ts"),
        (f'Hawk id="a", ts="{TS}", mac="m"', "Missing nonce"),
        (f'Hawk id="a", ts="{TS}", nonce="n"', "Missing mac"),
        ('Hawk id="a", ts="soon", nonce="n", mac="m"', "Invalid ts"),
        (f'Hawk id="a.b", ts="{TS}", nonce="n", mac="m"', "Unidentified id"),
        (f'Hawk id="a", ts="{TS}", nonce="n", mac="m", bogus="x"', "Bad header format"),
        (f'Hawk id="a", id="b", ts="{TS}", nonce="n", mac="m"', "Bad header format"),
        (f'Hawk id="a" ts="{TS}" garbage', "Bad header format"),
        ("Bearer abc", "Unsupported authentication scheme"),
        ("Hawk", "Missing attributes"),
    ],
)
def test_malformed_authorization_is_403(header: str, reason: str) -> None:
    with pytest.raises(HawkError) as exc_info:
        parse_authorization(header)
    assert failure(exc_info) == (403, f"Authentication failure: {reason}")


# --------------------------------------------------------------------------- responses


def test_verify_response_accepts_our_own_server_authorization() -> None:
    url = "https://example.com/posts/http%3A%2F%2Fexample.org/abc?version=x"
    auth_header = sign_request(CREDS, method="GET", url=url, app=APP, ts=TS, nonce=NONCE)
    auth = parse_authorization(auth_header)
    uri = "/posts/http%3A%2F%2Fexample.org/abc?version=x"
    for body in (BODY, None):
        header = sign_response(auth, CREDS, method="GET", uri=uri, content=body, content_type=CT, **SERVER)
        assert verify_response(
            header, auth_header, CREDS, method="GET", url=url, content=body, content_type=CT
        )


def test_verify_response_rejects_tampering() -> None:
    auth_header = sign_request(CREDS, method="POST", url=URL_POSTS, ts=TS, nonce=NONCE)
    auth = parse_authorization(auth_header)
    header = sign_response(auth, CREDS, method="POST", uri="/posts", content=BODY, content_type=CT, **SERVER)
    common = {"method": "POST", "url": URL_POSTS, "content_type": CT}
    assert not verify_response(header, auth_header, CREDS, content=BODY + b"x", **common)
    assert not verify_response(header, auth_header, Credentials(CREDS.id, "other"), content=BODY, **common)
    other_request = sign_request(CREDS, method="POST", url=URL_POSTS, ts=TS, nonce="different")
    assert not verify_response(header, other_request, CREDS, content=BODY, **common)
    assert not verify_response("Hawk nonsense", auth_header, CREDS, content=BODY, **common)


# --------------------------------------------------------------------------- bewits (§4.9)


def test_bewit_url_round_trips() -> None:
    url = "https://example.com/posts/http%3A%2F%2Fexample.org/abc?version=v1"
    signed = bewit_url(CREDS, url, TS + 86400)
    assert signed.startswith(url + "&bewit=")
    target = signed.removeprefix("https://example.com")
    uri, bewit = strip_bewit(target)
    assert uri == "/posts/http%3A%2F%2Fexample.org/abc?version=v1"
    assert bewit is not None
    assert verify_bewit(bewit, lookup_creds, uri_without_bewit=uri, now=TS, **SERVER) == CREDS


def test_bewit_url_without_query_uses_question_mark() -> None:
    signed = bewit_url(CREDS, URL_POSTS, TS)
    assert signed == f"{URL_POSTS}?bewit={BEWIT}"


def test_bewit_valid_until_exp_then_expired() -> None:
    bewit = make_bewit(CREDS, url=URL_POSTS, exp=TS)
    assert verify_bewit(bewit, lookup_creds, uri_without_bewit="/posts", now=TS, **SERVER) == CREDS
    with pytest.raises(HawkError) as exc_info:
        verify_bewit(bewit, lookup_creds, uri_without_bewit="/posts", now=TS + 0.5, **SERVER)
    assert failure(exc_info) == (403, "Authentication failure: Access expired")


def test_bewit_signed_with_wrong_key_is_invalid_mac() -> None:
    bewit = make_bewit(Credentials(CREDS.id, "wrong"), url=URL_POSTS, exp=TS + 60)
    with pytest.raises(HawkError) as exc_info:
        verify_bewit(bewit, lookup_creds, uri_without_bewit="/posts", now=TS, **SERVER)
    assert failure(exc_info) == (403, "Authentication failure: Invalid mac")


def test_bewit_for_another_url_is_invalid_mac() -> None:
    bewit = make_bewit(CREDS, url=URL_POSTS, exp=TS + 60)
    with pytest.raises(HawkError, match="Invalid mac"):
        verify_bewit(bewit, lookup_creds, uri_without_bewit="/posts/other", now=TS, **SERVER)


def test_bewit_with_unknown_id_is_refused() -> None:
    bewit = make_bewit(Credentials("someone-else", CREDS.key), url=URL_POSTS, exp=TS + 60)
    with pytest.raises(HawkError) as exc_info:
        verify_bewit(bewit, lookup_creds, uri_without_bewit="/posts", now=TS, **SERVER)
    assert failure(exc_info) == (403, "Authentication failure: Unidentified id")


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("bewit", "reason"),
    [
        ("", "Empty bewit"),
        ("not base64!", "Invalid bewit encoding"),
        (base64.b64encode(f"{CREDS.id}\\{TS}\\{BEWIT_MAC}\\".encode()).decode(), "Invalid bewit encoding"),
        ("A", "Invalid bewit encoding"),
        (_b64(f"{CREDS.id}\\{TS}\\{BEWIT_MAC}"), "Invalid bewit structure"),
        (_b64(f"{CREDS.id}\\{TS}\\{BEWIT_MAC}\\\\"), "Invalid bewit structure"),
        (_b64(f"{CREDS.id}\\tomorrow\\{BEWIT_MAC}\\"), "Invalid bewit structure"),
        (_b64(f"\\{TS}\\{BEWIT_MAC}\\"), "Missing bewit attributes"),
        (_b64(f"{CREDS.id}\\{TS}\\\\"), "Missing bewit attributes"),
        (base64.urlsafe_b64encode(b"\xff\xfe\\1\\2\\").decode().rstrip("="), "Invalid bewit encoding"),
    ],
)
def test_malformed_bewit_is_403(bewit: str, reason: str) -> None:
    with pytest.raises(HawkError) as exc_info:
        verify_bewit(bewit, lookup_creds, uri_without_bewit="/posts", now=TS - 10, **SERVER)
    assert failure(exc_info) == (403, f"Authentication failure: {reason}")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/posts/x?bewit=abc", ("/posts/x", "abc")),
        ("/p?a=1&bewit=abc&b=2", ("/p?a=1&b=2", "abc")),
        ("/p?a=1&bewit=abc", ("/p?a=1", "abc")),
        ("/p?bewit=abc&a=%2F", ("/p?a=%2F", "abc")),
        ("/p?bewit=", ("/p", "")),
        ("/p", ("/p", None)),
        ("/p?a=1&notbewit=x&bewitx=y", ("/p?a=1&notbewit=x&bewitx=y", None)),
        (
            "/posts/http%3A%2F%2Fexample.org/abc?b=%20+&bewit=z",
            ("/posts/http%3A%2F%2Fexample.org/abc?b=%20+", "z"),
        ),
    ],
)
def test_strip_bewit_keeps_the_rest_byte_for_byte(raw: str, expected: tuple[str, str | None]) -> None:
    assert strip_bewit(raw) == expected


def test_strip_bewit_refuses_two_bewits() -> None:
    with pytest.raises(HawkError, match="Multiple bewits"):
        strip_bewit("/p?bewit=a&bewit=b")


_PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='\\"')
_HEADER_TEXT = st.text(_PRINTABLE, max_size=24)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["header", "response", "bewit"]),
    ts=st.integers(0, 2**40),
    nonce=_HEADER_TEXT,
    method=st.sampled_from(["GET", "post", "PUT", "DELETE"]),
    uri=_HEADER_TEXT.map(lambda s: "/" + s),
    host=st.from_regex(r"[A-Za-z0-9.-]{1,20}", fullmatch=True),
    port=st.integers(1, 65535),
    content_hash=st.none() | _HEADER_TEXT,
    ext=st.none() | _HEADER_TEXT,
    app=st.none() | _HEADER_TEXT,
    dlg=st.none() | _HEADER_TEXT,
)
def test_our_mac_is_the_one_mohawk_computes(
    kind: str,
    ts: int,
    nonce: str,
    method: str,
    uri: str,
    host: str,
    port: int,
    content_hash: str | None,
    ext: str | None,
    app: str | None,
    dlg: str | None,
) -> None:
    """The MAC is written out for speed; mohawk, an independent implementation, must agree."""
    resource = SimpleNamespace(
        credentials={"id": CREDS.id, "key": CREDS.key, "algorithm": "sha256"},
        timestamp=str(ts),
        nonce=nonce,
        method=method.upper(),
        name=uri,
        host=host.lower(),
        port=str(port),
        ext=ext or "",
        app=app or "",
        dlg=dlg or "",
    )
    expected = mohawk.util.calculate_mac(kind, resource, content_hash or "").decode("ascii")
    ours = _mac(
        kind, CREDS, ts=ts, nonce=nonce, method=method, uri=uri, host=host, port=port,
        hash=content_hash, ext=ext, app=app, dlg=dlg,
    )  # fmt: skip
    assert ours == expected
