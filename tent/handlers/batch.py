"""batch (decision D-07): a JSON array of read requests run in order as the same principal.

Each sub-request is dispatched through the application itself (router, middlewares,
handlers), with the batch's principal already attached, so it passes exactly the checks a
direct request would: there is no second code path. Only GET and HEAD, at most
`MAX_REQUESTS`, no nesting, no attachment bytes (those stream; fetch them directly).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from tent.auth.authenticator import HAWK
from tent.core.errors import TentError
from tent.core.input_safety import parse_json
from tent.handlers.common import PRINCIPAL, principal_of, settings_of
from tent.http_input import read_body

MAX_REQUESTS = 50
METHODS = ("GET", "HEAD")
FORWARDED_HEADERS = ("Accept", "If-None-Match", "Cache-Control")
RETURNED_HEADERS = (
    "Content-Type",
    "ETag",
    "Count",
    "Link",
    "Location",
    "Attachment-Digest",
    "Cache-Control",
    "Vary",
)


def _target(item: Any, index: int, root: str, prefix: str) -> tuple[str, str, dict[str, str]]:
    if not isinstance(item, dict):
        raise TentError(f"Sub-request {index} must be an object")
    method = str(item.get("method", "GET")).upper()
    if method not in METHODS:
        raise TentError(f"Sub-request {index}: only GET and HEAD may be batched")
    url = item.get("url")
    if not isinstance(url, str) or not url:
        raise TentError(f"Sub-request {index}: url required")
    if url.startswith(root + "/"):
        url = url[len(root) :]  # an absolute URL of this server
    if not url.startswith(prefix + "/") or url.startswith("//"):
        raise TentError(f"Sub-request {index}: url must be a path on this server")
    path = url.split("?", 1)[0]
    if path in (prefix + "/batch",) or path.startswith(prefix + "/attachments/"):
        raise TentError(f"Sub-request {index}: {path} cannot be batched")
    headers = item.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise TentError(f"Sub-request {index}: headers must be an object of strings")
    return method, url, headers


def _body(response: web.Response, method: str) -> Any:
    if method == "HEAD" or not response.body:
        return None
    raw = response.body if isinstance(response.body, bytes) else b""
    if "json" in (response.content_type or ""):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return raw.decode("utf-8", "replace")


def _clone(request: web.Request, method: str, url: URL, headers: CIMultiDict[str]) -> web.Request:
    """aiohttp refuses to clone a request whose body was read (its payload could not be read
    again); sub-requests are bodiless GET/HEADs, so hide the read body for the clone."""
    read = request._read_bytes
    request._read_bytes = None
    try:
        return request.clone(method=method, rel_url=url, headers=headers)
    finally:
        request._read_bytes = read


async def batch(request: web.Request) -> web.Response:
    settings, principal = settings_of(request), principal_of(request)
    items = parse_json(await read_body(request))
    if not isinstance(items, list):
        raise TentError("Batch body must be a JSON array of requests")
    if len(items) > MAX_REQUESTS:
        raise TentError(f"At most {MAX_REQUESTS} requests per batch", 413)
    targets = [_target(item, i, settings.root, settings.path_prefix) for i, item in enumerate(items)]
    results = []
    for method, url, given in targets:
        headers = CIMultiDict({k: v for k, v in given.items() if k.title() in FORWARDED_HEADERS})
        headers["Host"] = request.headers.get("Host", "")
        sub = _clone(request, method, URL(url, encoded=True), headers)
        sub[PRINCIPAL] = principal
        if HAWK in sub:
            del sub[HAWK]  # the batch response is signed as a whole
        try:
            response = await request.app._handle(sub)
        except web.HTTPException as exc:
            response = exc
        if not isinstance(response, web.Response):
            raise TentError("A sub-request answered with a stream; fetch it directly", 400)
        results.append(
            {
                "status": response.status,
                "headers": {k: response.headers[k] for k in RETURNED_HEADERS if k in response.headers},
                "body": _body(response, method),
            }
        )
    return web.json_response(results, dumps=lambda v: orjson.dumps(v).decode())
