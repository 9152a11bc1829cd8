"""Hypothesis strategies for the fuzz suite: hostile variants of real Tent requests.

Each strategy starts from a request a real app sends and breaks one or a few things about
it: a JSON member replaced by a value of the wrong type, out of range, unstorable or nested
too deep; a query string or path made of junk escapes; a multipart body with hostile part
headers or cut short; headers that are too long, malformed or out of range. Only what an
HTTP library can put on the wire is generated (no control characters in headers); raw
framing errors are covered by the regression tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

STATUS = "https://tent.io/types/status/v0#"
POST_MT = "application/vnd.tent.post.v0+json"
# Entities in generated posts point at a closed loopback port: deliveries fail at once
# and nothing leaves the machine.
PEER = "http://127.0.0.1:9"


_signed = st.sampled_from([True, True, True, False])


@dataclass
class Request:
    method: str
    target: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    signed: bool = True
    payload_hash: bool = True


@dataclass(frozen=True)
class Fixtures:
    """Real things on the server under test the requests refer to."""

    entity: str  # percent-encoded, as in a post URL
    post_id: str
    version: str
    digest: str


# --- hostile values ---------------------------------------------------------------------------

_DEEP = "__deep_%d__"
HOSTILE_STRINGS = [
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfff",
    "http://[::1",
    "http://127.0.0.1:99999",
    "http://",
    "9" * 30,
    "",
    " " * 300,
    "é" * 300,
    "😀" * 257,
    "https://tent.io/types/status/v0#\x00",
    "a" * 5000,
]
HOSTILE_INTS = [-(2**63) - 1, 2**63, 2**64, 2**70, -1, 253_402_300_800_000, 10**30]

scalars = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    st.sampled_from(HOSTILE_INTS),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.booleans(),
    st.none(),
    st.integers(min_value=1, max_value=3000).map(lambda d: _DEEP % d),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
# One class of breakage per draw, so that a fixed number of examples covers each of them.
hostile_json_values = st.one_of(
    st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfff", ["ok", "\x00"]]),  # unstorable text
    st.sampled_from(HOSTILE_INTS) | st.integers(min_value=-(2**80), max_value=2**80),  # out of range
    st.sampled_from([65, 100, 400, 700, 1000, 1023, 1100, 5000]).map(lambda d: _DEEP % d),  # deep
    st.sampled_from(["http://[::1", "http://127.0.0.1:99999", "http://", "a" * 5000]),  # bad URLs, long
    st.sampled_from([[], {}, 0, 1.5, "x", True, None]),  # wrong types
    json_values,
)
hostile_keys = st.one_of(st.sampled_from(["a\x00b", "\ud800", "", "~1/", "a" * 300]), st.text(max_size=8))


def dumps(value: Any) -> bytes:
    """JSON text that may hold what no encoder emits: lone surrogates (as escapes), integers
    of any size, and nesting thousands of levels deep."""
    text = json.dumps(value, ensure_ascii=True, allow_nan=True)
    while '"__deep_' in text:
        start = text.index('"__deep_')
        end = text.index('__"', start + 8) + 3
        depth = int(text[start + 8 : end - 3])
        text = text[:start] + "[" * depth + "]" * depth + text[end:]
    return text.encode()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    if not isinstance(value, dict | list):
        value = {}
    if isinstance(value, list) and not isinstance(path[0], int):
        value = {}
    copy = (dict if isinstance(value, dict) else list)(value)
    if isinstance(copy, dict) and path[0] not in copy:
        copy[path[0]] = {}
    copy[path[0]] = _set(copy[path[0]], path[1:], new)
    return copy


@st.composite
def mutated_json(draw: st.DrawFn, base: Any) -> bytes:
    """`base` with one to three members replaced, added or removed, then maybe cut short."""
    doc = base
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        paths = _paths(doc)
        action = draw(st.sampled_from(["text", "number", "deep", "replace", "replace", "add", "remove"]))
        if action == "text":  # keep the shape valid, so the bad text reaches the deepest layer
            strings = [p for p in paths if isinstance(_get(doc, p), str)]
            if strings:
                path = draw(st.sampled_from(strings))
                bad = draw(st.sampled_from(["\x00", "\ud800", "\udfff"]))
                at = draw(st.integers(0, len(_get(doc, path))))
                doc = _set(doc, path, _get(doc, path)[:at] + bad + _get(doc, path)[at:])
                continue
        if action == "number":
            numbers = [p for p in paths if type(_get(doc, p)) is int] or [("content", "n")]
            doc = _set(doc, draw(st.sampled_from(numbers)), draw(st.sampled_from(HOSTILE_INTS)))
            continue
        path = draw(st.sampled_from(paths))
        target = _get(doc, path)
        if action == "deep" and isinstance(target, dict):
            depth = draw(st.sampled_from([65, 100, 400, 700, 1000, 1023, 1100, 5000]))
            doc = _set(doc, path, {**target, "deep": _DEEP % depth})
        elif action == "add" and isinstance(target, dict):
            doc = _set(doc, path, {**target, draw(hostile_keys): draw(hostile_json_values)})
        elif action == "remove" and path:
            parent_path, key = path[:-1], path[-1]
            parent: Any = doc
            for k in parent_path:
                parent = parent[k]
            if isinstance(parent, dict):
                doc = _set(doc, parent_path, {k: v for k, v in parent.items() if k != key})
            else:
                doc = _set(doc, parent_path, [v for i, v in enumerate(parent) if i != key])
        else:
            doc = _set(doc, path, draw(hostile_json_values))
    raw = dumps(doc)
    cut = draw(st.sampled_from(["none"] * 8 + ["truncate", "byte"]))
    if cut == "truncate" and raw:
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif cut == "byte" and raw:
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]
    return raw


def real_post(fx: Fixtures | None = None) -> dict[str, Any]:
    post: dict[str, Any] = {
        "type": STATUS,
        "content": {"text": "hello", "location": {"latitude": "1", "longitude": "2"}},
        "mentions": [{"entity": PEER, "post": "p1"}],
        "refs": [{"entity": PEER, "post": "p1"}],
        "permissions": {"public": False, "entities": [PEER]},
        "licenses": [{"url": "https://creativecommons.org/licenses/by/3.0/"}],
        "published_at": 1_700_000_000_000,
    }
    if fx is not None:
        post["version"] = {"parents": [{"version": fx.version}], "message": "edit"}
    return post


def _post_type_of(raw: bytes) -> str:
    try:
        t = json.loads(raw).get("type")
    except (ValueError, AttributeError, RecursionError):
        return STATUS
    return t if isinstance(t, str) and t.isprintable() and t.isascii() else STATUS


@st.composite
def json_requests(draw: st.DrawFn, fx: Fixtures) -> Request:
    post_path = f"/posts/{fx.entity}/{fx.post_id}"
    route = draw(
        st.sampled_from(
            ["new_post", "new_version", "notification", "import", "app", "auth_request", "batch", "token"]
        )
    )
    signed = draw(_signed)
    if route in ("new_post", "new_version", "notification", "import"):
        raw = draw(mutated_json(real_post(fx if route == "new_version" else None)))
        rel = {"notification": "https://tent.io/rels/notification", "import": "https://tent.io/rels/import"}
        ct = f'{POST_MT}; type="{_post_type_of(raw)}"'
        if route in rel:
            ct += f'; rel="{rel[route]}"'
        method, target = ("POST", "/posts") if route == "new_post" else ("PUT", post_path)
        return Request(method, target, raw, {"Content-Type": ct}, signed)
    if route == "app":
        app = {
            "type": "https://tent.io/types/app/v0#",
            "content": {
                "name": "Fuzz",
                "url": "http://127.0.0.1:9",
                "redirect_uri": "http://127.0.0.1:9/cb",
                "types": {"read": [STATUS], "write": [STATUS]},
                "scopes": ["permissions"],
            },
        }
        raw = draw(mutated_json(app))
        return Request(
            "POST", "/posts", raw, {"Content-Type": f'{POST_MT}; type="{_post_type_of(raw)}"'}, signed
        )
    base: Any
    if route == "auth_request":
        base, target = (
            {"code": "123456", "msg": "hi", "user": "me", "expire": 1_800_000_000_000},
            "/oauth/requests",
        )
    elif route == "batch":
        base = [{"method": "GET", "url": "/posts?limit=1", "headers": {"Accept": POST_MT}}]
        target = "/batch"
    else:
        base, target = {"code": "abc"}, "/oauth/token"
    raw = draw(mutated_json(base))
    return Request("POST", target, raw, {"Content-Type": "application/json"}, signed)


# --- query strings and paths ---------------------------------------------------------------------

HOSTILE_QUERY_VALUES = [
    "-9223372036854775809",
    "9223372036854775808",
    "1e400",
    "-1",
    "0",
    "253402300800000",
    "1+a+b",
    "%ZZ",
    "%",
    "%0",
    "%00",
    "%ED%A0%80",
    "%FF%FE",
    "http://[::1",
    "http%3A%2F%2F%5B%3A%3A1",
    "http://127.0.0.1:99999",
    "all",
    ",,,",
    "+" * 50,
    "9" * 5000,
    "1%20" + "9" * 40,
]
PARAM_NAMES = [
    "limit", "since", "until", "before", "types", "entities", "mentions", "max_refs", "sort_by",
    "profiles", "version", "post", "entity", "client_id", "state", "bewit", "x",
]  # fmt: skip
_escaped_bytes = st.binary(max_size=12).map(lambda b: "".join(f"%{x:02X}" for x in b))
_quoted_text = st.text(max_size=20).map(lambda t: quote(t.encode("utf-8", "surrogatepass"), safe=""))
query_values = st.one_of(
    st.sampled_from(HOSTILE_QUERY_VALUES),
    _escaped_bytes,
    _quoted_text,
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)
query_names = st.one_of(st.sampled_from(PARAM_NAMES), _escaped_bytes)
query_strings = st.lists(st.tuples(query_names, query_values), max_size=4).map(
    lambda pairs: "&".join(f"{n}={v}" for n, v in pairs)
)
segments = st.one_of(st.sampled_from(HOSTILE_QUERY_VALUES), _escaped_bytes, _quoted_text)
FEED_PARAMS = ["limit", "since", "until", "before", "types", "entities", "mentions", "max_refs", "sort_by"]


targeted_query_values = st.one_of(
    st.sampled_from(["%00", "a%00b", "%ED%A0%80", "%FF"]),  # unstorable or not UTF-8
    st.sampled_from(["%ZZ", "%", "%0", "a%2"]),  # broken escapes
    st.sampled_from(["-9223372036854775809", "9223372036854775808", "253402300800000", "-1", "1e400"]),
    st.sampled_from(["http://[::1", "http%3A%2F%2F%5B%3A%3A1", "http://127.0.0.1:99999"]),
    query_values,
)


NUMERIC_PARAMS = ("limit", "since", "until", "before", "max_refs")
numeric_values = st.one_of(
    st.sampled_from(["-9223372036854775809", "9223372036854775808", "-1", "1e400", "253402300800000"]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.tuples(st.integers(min_value=-(2**66), max_value=2**66), st.sampled_from(["", "+v", "+a+b"])).map(
        lambda t: f"{t[0]}{t[1]}"
    ),
)


def _pair(name: str) -> st.SearchStrategy[tuple[str, str]]:
    values = (
        st.one_of(numeric_values, targeted_query_values) if name in NUMERIC_PARAMS else targeted_query_values
    )
    return st.tuples(st.just(name), values)


def _query_for(names: list[str]) -> st.SearchStrategy[str]:
    """Hostile values for the parameters this route reads, sometimes with junk beside them."""
    pairs = st.sampled_from(names).flatmap(_pair)
    return st.tuples(
        st.lists(pairs, min_size=1, max_size=3), st.lists(st.tuples(query_names, query_values), max_size=1)
    ).map(lambda both: "&".join(f"{n}={v}" for n, v in both[0] + both[1]))


@st.composite
def query_requests(draw: st.DrawFn, fx: Fixtures) -> Request:
    """Every GET route (and the bodiless writes) with hostile queries and path segments."""
    e, p = fx.entity, fx.post_id
    seg = draw(segments)
    post_params = ["version", "max_refs", "limit", "since", "before"]
    target, params = draw(
        st.sampled_from(
            [
                ("/posts", FEED_PARAMS),
                ("/posts", FEED_PARAMS),
                ("/posts", FEED_PARAMS),
                ("/posts", FEED_PARAMS),
                (f"/posts/{e}/{p}", post_params),
                (f"/posts/{seg}/{p}", post_params),
                (f"/posts/{e}/{seg}", post_params),
                (f"/posts/{seg}", post_params),
                (f"/posts/{e}/{p}/attachments/{seg}", ["version"]),
                (f"/attachments/{e}/{fx.digest}", ["version"]),
                (f"/attachments/{seg}/{fx.digest}", ["version"]),
                (f"/attachments/{e}/{seg}", ["version"]),
                ("/oauth/requests", ["before", "since", "limit"]),
                (f"/oauth/requests/{seg}", ["x"]),
                ("/deliveries", ["post", "entity"]),
                (f"/deliveries/{seg}/retry", ["x"]),
                ("/discover", ["entity"]),
                ("/server", ["x"]),
                ("/", ["x"]),
                ("/oauth/authorize", ["client_id", "state"]),
                ("/owner", ["x"]),
                (f"/{seg}", ["bewit"]),
                (f"/posts/{e}/{p}", ["bewit"]),
            ]
        )
    )
    method = "POST" if target.endswith("/retry") else draw(st.sampled_from(["GET", "GET", "HEAD", "DELETE"]))
    if method == "DELETE" and not target.startswith("/posts/"):
        method = "GET"
    if method == "DELETE":
        target = target.replace(f"/{p}", "/not-a-real-post")  # keep the fixtures' post
    query = draw(st.one_of(_query_for(params), query_strings))
    accept = draw(st.sampled_from([None, POST_MT, "application/vnd.tent.post-versions.v0+json"]))
    headers = {"Accept": accept} if accept else {}
    return Request(method, target + ("?" + query if query else ""), None, headers, draw(_signed))


@st.composite
def form_requests(draw: st.DrawFn, fx: Fixtures) -> Request:
    """The owner's forms (sign-in, approvals) with hostile form bodies."""
    target = draw(
        st.sampled_from(
            ["/owner/login", "/owner/logout", "/oauth/authorize", f"/owner/requests/{draw(segments)}"]
        )
    )
    body = draw(query_strings).encode()
    return Request("POST", target, body, {"Content-Type": "application/x-www-form-urlencoded"}, draw(_signed))


# --- multipart -------------------------------------------------------------------------------------

BOUNDARY = "fuzz-boundary-7d2"
_header_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=40
).map(lambda t: t.replace('"', ""))
_hostile_names = st.one_of(
    st.sampled_from(["photo[0]", "photo", "avatar[]", "", "a" * 300, "c" * 9000]),
    _header_text,
)


def _part(disposition: bytes, content_type: bytes | None, data: bytes, extra: bytes = b"") -> bytes:
    head = b"Content-Disposition: form-data; " + disposition + b"\r\n"
    if content_type is not None:
        head += b"Content-Type: " + content_type + b"\r\n"
    return head + extra + b"\r\n" + data


@st.composite
def multipart_requests(draw: st.DrawFn, fx: Fixtures) -> Request:
    post_raw = draw(st.one_of(st.just(dumps(real_post())), mutated_json(real_post())))
    first = _part(b'name="post"', f'{POST_MT}; type="{STATUS}"'.encode(), post_raw)
    parts = [first]
    for _ in range(draw(st.integers(0, 3))):
        name = draw(_hostile_names).encode()
        filename = draw(
            st.one_of(
                st.none(),
                _hostile_names.map(str.encode),
                st.sampled_from([b"a\xed\xa0\x80.png", b"nul*", b"f" * 10_000, b"ok.png"]),
            )
        )
        disposition = b'name="' + name + b'"'
        if filename == b"nul*":
            disposition += b"; filename*=UTF-8''a%00b.png"
        elif filename is not None:
            disposition += b'; filename="' + filename + b'"'
        content_type = draw(
            st.sampled_from(
                [b"image/png", None, b"", b"\xff\xfe", b"x" * 9000, b"application/vnd.tent.post.v0+json"]
            )
        )
        extra = draw(
            st.sampled_from(
                [b"", b"garbage without colon\r\n", b"X-Long: " + b"h" * 20_000 + b"\r\n", b": empty\r\n"]
            )
        )
        parts.append(_part(disposition, content_type, draw(st.binary(max_size=64)), extra))
    b = BOUNDARY.encode()
    body = b"".join(b"--" + b + b"\r\n" + p + b"\r\n" for p in parts) + b"--" + b + b"--\r\n"
    ending = draw(st.sampled_from(["whole", "whole", "truncated", "epilogue", "no-close"]))
    if ending == "truncated":
        body = body[: draw(st.integers(0, len(body) - 1))]
    elif ending == "epilogue":
        body += (
            b"--" + b + b"\r\n" + _part(b'name="late"; filename="late.png"', b"image/png", b"late") + b"\r\n"
        )
    elif ending == "no-close":
        body = body[: -len(b"--\r\n")]
    boundary = draw(st.sampled_from([BOUNDARY, BOUNDARY, "other", "", "b" * 100]))
    ct = f"multipart/form-data; boundary={boundary}" if boundary else "multipart/form-data"
    method, target = draw(st.sampled_from([("POST", "/posts"), ("PUT", f"/posts/{fx.entity}/{fx.post_id}")]))
    return Request(method, target, body, {"Content-Type": ct}, draw(_signed), draw(_signed))


# --- headers ------------------------------------------------------------------------------------------

_long = st.integers(1, 12_000).map(lambda n: "a" * n)
_header_values = st.one_of(_header_text, _long, st.sampled_from(HOSTILE_QUERY_VALUES))
HEADER_MUTATIONS = {
    "Accept": st.one_of(
        _header_values,
        st.sampled_from(
            [";;;q=x,,,*/*;q=nan", "application/vnd.tent.post-mentions.v0+json;q=1e400", "*/*;q=-1"]
        ),
    ),
    "If-None-Match": st.one_of(_header_values, st.just('W/"x", *, ""')),
    "Cache-Control": st.one_of(_header_values, st.sampled_from(["proxy", "no-proxy", "proxy-if-miss"])),
    "Range": st.one_of(
        _header_values,
        st.sampled_from(
            ["bytes=0-", "bytes=-0", "bytes=" + "9" * 5000 + "-", "bytes=5-1", "bytes=-" + "9" * 30]
        ),
    ),
    "Content-Type": st.one_of(
        _header_values,
        st.sampled_from(
            [
                POST_MT,
                f"{POST_MT}; type=",
                f'{POST_MT}; type="{STATUS}"; rel="x"',
                "multipart/form-data",
                "a/b;;;",
            ]
        ),
    ),
    "Content-Encoding": st.sampled_from(["gzip", "br", "deflate", "identity", "x-zzz", "gzip, br", ""]),
    "Create-Delete-Post": _header_values,
    "Origin": _header_values,
    "X-Forwarded-For": st.one_of(_header_values, st.sampled_from(["::1", "1.2.3.4, [::1", "999.1.1.1"])),
    "Host": st.sampled_from(["[::1", "127.0.0.1:99999", "127.0.0.1:abc", "", "a" * 300, "127.0.0.1"]),
    "Authorization": st.one_of(
        _header_values,
        st.sampled_from(
            [
                'Hawk id="x"',
                "Hawk garbage",
                'Hawk id="a", ts="99999999999999999999", nonce="n", mac="m"',
                'Hawk id="a", id="b", ts="1", nonce="n", mac="m"',
                'Hawk id="\u00e9", ts="1", nonce="n", mac="m"',
                "Basic dXNlcjpw",
                "Hawk " + "x=" * 3000,
            ]
        ),
    ),
}


@st.composite
def header_requests(draw: st.DrawFn, fx: Fixtures) -> Request:
    """A real request (feed, post, version, new post, attachment) with hostile headers."""
    e, p = fx.entity, fx.post_id
    base = draw(st.sampled_from(["feed", "post", "new_post", "attachment", "delete"]))
    body = None
    if base == "feed":
        method, target = "GET", "/posts?limit=2"
    elif base == "post":
        method, target = draw(st.sampled_from(["GET", "HEAD"])), f"/posts/{e}/{p}"
    elif base == "attachment":
        method, target = "GET", f"/attachments/{e}/{fx.digest}"
    elif base == "delete":
        method, target = "DELETE", f"/posts/{e}/not-a-real-post"
    else:
        method, target, body = "POST", "/posts", dumps(real_post())
    headers = {"Content-Type": f'{POST_MT}; type="{STATUS}"'} if body is not None else {}
    names = draw(st.lists(st.sampled_from(sorted(HEADER_MUTATIONS)), min_size=1, max_size=3, unique=True))
    for name in names:
        headers[name] = draw(HEADER_MUTATIONS[name])
    return Request(method, target, body, headers, draw(_signed))


# --- seeds: one known-hostile request per class the issue names, run before the search ---


def _status(extra: str) -> bytes:
    return ('{"type": "' + STATUS + '", "content": {"text": "hi"' + extra + "}}").encode()


def _mp(disposition: bytes, extra: bytes = b"", epilogue: bytes = b"") -> Request:
    b = BOUNDARY.encode()
    first = _part(b'name="post"', f'{POST_MT}; type="{STATUS}"'.encode(), _status(""))
    parts = (first, _part(disposition, b"image/png", b"bytes", extra))
    body = b"".join(b"--" + b + b"\r\n" + p + b"\r\n" for p in parts) + b"--" + b + b"--\r\n" + epilogue
    return Request(
        "POST", "/posts", body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}, True, True
    )


def seeds(kind: str, fx: Fixtures) -> list[Request]:
    ct = {"Content-Type": f'{POST_MT}; type="{STATUS}"'}
    e, p = fx.entity, fx.post_id
    if kind == "json":
        bodies = [
            _status(', "x": ' + "[" * 900 + "]" * 900),
            _status(', "x": ' + "[" * 65 + "]" * 65),
            _status(', "x": "a\\u0000b"'),
            _status(', "x": "a\\ud800b"'),
            _status(', "a\\u0000": 1'),
            _status(', "n": 18446744073709551615'),
            _status('}, "published_at": 253402300800000, "x": {'),
            _status('}, "mentions": [{"entity": "http://[::1"}], "x": {'),
            _status('}, "refs": [{"post": "p\\u0000"}], "x": {'),
        ]
        out = [Request("POST", "/posts", b, ct) for b in bodies]
        out.append(Request("PUT", f"/posts/{e}/{p}", _status(', "x": "\\u0000"'), ct))
        json_ct = {"Content-Type": "application/json"}
        out.append(Request("POST", "/oauth/requests", b'{"msg": "\\u0000"}', json_ct))
        out.append(
            Request(
                "POST", "/batch", b'[{"method": "GET", "url": "/posts?since=-9223372036854775809"}]', json_ct
            )
        )
        out.append(Request("POST", "/batch", b'[{"method": "GET", "url": "/posts?entities=%00"}]', json_ct))
        out.append(Request("POST", "/oauth/token", b'{"code": "\\u0000"}', json_ct))
        return out
    if kind == "query":
        targets = [
            "/posts?since=-9223372036854775809",
            "/posts?before=9223372036854775808",
            "/posts?until=-1",
            "/posts?limit=1e400",
            "/posts?entities=%00",
            "/posts?types=https://tent.io/types/status/v0%23%00",
            "/posts?mentions=%ED%A0%80",
            "/posts/%ZZ/x",
            f"/posts/{e}/{p}?version=%00",
            f"/posts/{e}%00/{p}",
            "/posts/http%3A%2F%2F%5B%3A%3A1/x",
            "/posts/http%3A%2F%2Fa.example%3A99999/x",
            "/discover?entity=http://[::1",
            "/deliveries?post=%00",
            "/oauth/requests?before=99999999999999999999",
            "/oauth/requests/99999999999999999999999",
            "/oauth/authorize?client_id=%00",
            f"/attachments/{e}/{fx.digest}?version=%00",
            f"/posts/{e}/{p}/attachments/%00",
        ]
        out = [Request("GET", t, signed=s) for t in targets for s in (True, False)]
        out.append(Request("POST", "/deliveries/99999999999999999999999/retry"))
        return out
    if kind == "form":
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        return [
            Request("POST", "/owner/login", b"passphrase=%00&next=/owner", form, False),
            Request("POST", "/owner/login", b"passphrase=x&next=%ED%A0%80", form, False),
            Request("POST", "/oauth/authorize", b"client_id=%00&csrf=x", form, False),
        ]
    if kind == "multipart":
        return [
            _mp(b"name=\"photo[0]\"; filename*=UTF-8''a%00b.png"),
            _mp(b'name="photo[0]"; filename="a\xed\xa0\x80.png"'),
            _mp(b'name="photo[0]"; filename="' + b"f" * 10_000 + b'"'),
            _mp(b'name="photo[0]"; filename="' + b"f" * 5000 + b'"'),
            _mp(b'name="photo[0]"'),
            _mp(b'name="ph\x00oto"; filename="a.png"'),
            _mp(b'name="' + b"c" * 1000 + b'"; filename="a.png"'),
            _mp(b'name="photo[0]"; filename="a.png"', extra=b"X-Huge: " + b"h" * 20_000 + b"\r\n"),
            _mp(b'name="photo[0]"; filename="a.png"', extra=b"garbage without colon\r\n"),
            _mp(
                b'name="photo[0]"; filename="a.png"',
                epilogue=b"--" + BOUNDARY.encode() + b"\r\nlate part\r\n",
            ),
        ]
    headers: list[dict[str, str]] = [
        {"Accept": "a/b, " * 2000},
        {"Content-Encoding": "gzip", **ct},
        {"Content-Encoding": "br", **ct},
        {"Host": "[::1"},
        {"Authorization": 'Hawk id="a", ts="99999999999999999999", nonce="n", mac="m"'},
        {"Authorization": "Hawk " + "x=" * 3000},
        {"Range": "bytes=" + "9" * 5000 + "-"},
    ]
    out = [
        Request(
            "POST" if "Content-Encoding" in h else "GET",
            "/posts",
            _status("") if "Content-Encoding" in h else None,
            h,
        )
        for h in headers
    ]
    out.append(Request("GET", f"/attachments/{e}/{fx.digest}", None, {"Range": "bytes=" + "9" * 5000 + "-"}))
    return out
