"""Attachment bytes by entity + digest, and the post_attachment redirect (§3.7, §3.8)."""

from __future__ import annotations

import base64
import re
from urllib.parse import unquote_plus

from aiohttp import web

from tent.core import media
from tent.core.errors import NotFound, TentError
from tent.core.principal import is_public
from tent.handlers import proxy
from tent.handlers.common import (
    BLOBS,
    attachment_url,
    principal_of,
    services_of,
    settings_of,
)

ONE_YEAR = 31557600
_RANGE = re.compile(r"^bytes=([0-9]{0,18})-([0-9]{0,18})$")  # longer numbers: no range we could serve
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def _etag(digest: str) -> str:
    """The bytes behind a digest never change, so the digest is the ETag (D-29)."""
    return '"' + base64.urlsafe_b64encode(bytes.fromhex(digest)).rstrip(b"=").decode() + '"'


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """A single `bytes=` range as (first, last), None for the whole body; 416 if unsatisfiable."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None  # several ranges or another unit: answer with the whole body
    if not m.group(1):
        length = int(m.group(2))
        if length == 0:
            raise TentError("Range Not Satisfiable", 416, headers={"Content-Range": f"bytes */{size}"})
        return max(size - length, 0), size - 1
    first = int(m.group(1))
    last = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
    if first >= size or last < first:
        raise TentError("Range Not Satisfiable", 416, headers={"Content-Range": f"bytes */{size}"})
    return first, last


def _quote_filename(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "")


async def attachment(request: web.Request) -> web.StreamResponse:
    return await serve(request, settings_of(request).path_prefix + "/attachments/")


async def serve(request: web.Request, prefix: str) -> web.StreamResponse:
    """The bytes at `prefix` + entity/digest, for whoever the request's principal is."""
    settings, principal = settings_of(request), principal_of(request)
    raw = request.raw_path.split("?", 1)[0]
    entity_raw, _, digest = raw[len(prefix) :].rpartition("/")
    entity = unquote_plus(entity_raw)
    digest = digest.removeprefix("sha512t256-")
    if not _DIGEST.match(digest) or "://" not in entity:
        raise NotFound()
    if entity != settings.entity and not principal.app_level:
        raise NotFound()
    mode = proxy.NO_PROXY if entity == settings.entity else proxy.mode_of(request, proxy.PROXY_IF_MISS)
    carrier = None
    if mode != proxy.PROXY:
        carrier = await request.app[BLOBS].carrier(entity, digest, principal.feed_visibility(settings.entity))
    if carrier is None:
        if mode == proxy.NO_PROXY:
            raise NotFound()
        return await proxy.attachment(request, entity, digest)
    size = carrier.size
    public = is_public(carrier.post) and principal.is_anonymous
    filename = _quote_filename(str(carrier.attachment.get("name", "")))
    headers = {
        "Content-Type": carrier.attachment.get("content_type") or "application/octet-stream",
        "ETag": _etag(digest),
        "Cache-Control": f"{'public' if public else 'private'}, max-age={ONE_YEAR}",
        "Content-Disposition": f'inline; filename="{filename}"',
        "Accept-Ranges": "bytes",
    }
    inm = [t.strip().removeprefix("W/") for t in request.headers.get("If-None-Match", "").split(",")]
    if "*" in inm or headers["ETag"] in inm:
        return web.Response(status=304, headers={k: headers[k] for k in ("ETag", "Cache-Control")})
    span = _byte_range(request.headers.get("Range"), size)
    first, last = span if span else (0, size - 1)
    response = web.StreamResponse(status=206 if span else 200, headers=headers)
    if span:
        response.headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    response.content_length = last - first + 1 if size else 0
    await response.prepare(request)
    if request.method != "HEAD" and size:
        async for piece in request.app[BLOBS].read(digest, first, last):
            await response.write(piece)
    await response.write_eof()
    return response


async def post_attachment(request: web.Request, entity: str, post_id: str, name: str) -> web.Response:
    """302 to the attachment of that name in the post version; Accept picks among types (D-30)."""
    version = request.query.get("version")
    version = None if version in (None, "latest") else version
    if await proxy.should_proxy(request, entity, post_id, version):
        return await proxy.post_attachment(request, entity, post_id, name)
    post = await services_of(request).reader.readable_post(principal_of(request), entity, post_id, version)
    accept = request.headers.get("Accept")
    best, best_q = None, 0.0
    for candidate in post.get("attachments") or []:
        if candidate.get("name") != name:
            continue
        q = media.accept_matches(accept, candidate.get("content_type", ""))
        if q > best_q:
            best, best_q = candidate, q
    if best is None:
        raise NotFound()
    location = attachment_url(settings_of(request), post["entity"], best["digest"])
    return web.Response(status=302, headers={"Location": location, "Attachment-Digest": best["digest"]})
