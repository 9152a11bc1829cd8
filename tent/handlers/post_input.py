"""Reading a post from a request: a JSON body, or multipart/form-data with the post part
first and then attachments, which are streamed into storage only after the post itself
passed validation and the caller's authorization check."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import BodyPartReader, MultipartReader, web

from tent.core import media
from tent.core.errors import TentError
from tent.core.posts import now_ms
from tent.core.principal import Principal
from tent.core.types import PostType
from tent.core.validation import validate_post
from tent.handlers.common import settings_of
from tent.store.blobs import BlobStore, TooLarge

INVALID_CONTENT_TYPE = (
    "Invalid Content-Type header. The header must be application/vnd.tent.post.v0+json "
    "or multipart/form-data."
)
BLOBS = web.AppKey("blobs", BlobStore)
_INDEX_SUFFIX = re.compile(r"\[\d*\]$")


@dataclass(slots=True)
class PostInput:
    body: dict[str, Any]
    post_type: PostType
    media_type: media.MediaType
    reader: MultipartReader | None = None
    uploads: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rel(self) -> str | None:
        return self.media_type.params.get("rel")


def _parse(raw: bytes, media_type: media.MediaType) -> tuple[dict[str, Any], PostType]:
    """JSON, then the post checks, then the Content-Type check: tentd's order (§3.1)."""
    if not raw.strip():
        raise TentError("Request body missing.")
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise TentError("Invalid JSON") from None
    body, post_type = validate_post(parsed)
    if media_type.mime != media.POST or media_type.params.get("type") != body["type"]:
        raise TentError(INVALID_CONTENT_TYPE, 415)
    return body, post_type


async def _read_limited(part: BodyPartReader, limit: int) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise TentError("Request body too large", 413)
    return bytes(data)


async def read_post(request: web.Request) -> PostInput:
    content_type = media.parse_media_type(request.headers.get("Content-Type"))
    if content_type.mime != "multipart/form-data":
        return PostInput(*_parse(await request.read(), content_type), content_type)
    try:
        reader = await request.multipart()
        part = await reader.next()
    except (ValueError, AssertionError, KeyError) as exc:
        raise TentError(f"Malformed multipart body: {exc}") from None
    if not isinstance(part, BodyPartReader):
        raise TentError("Request body missing.")
    part_type = media.parse_media_type(part.headers.get("Content-Type"))
    if part_type.mime != media.POST:
        raise TentError(
            f"The first part of a multipart post must be the post ({media.POST}); attachments follow it"
        )
    raw = await _read_limited(part, settings_of(request).max_body_size)
    return PostInput(*_parse(raw, part_type), part_type, reader)


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(256 * 1024):
        yield chunk


async def read_uploads(request: web.Request, post_input: PostInput, max_size: int) -> list[dict[str, Any]]:
    """Stream every file part into storage; each becomes an attachment entry (D-21)."""
    if post_input.reader is None:
        return []
    blobs = request.app[BLOBS]
    uploads: list[dict[str, Any]] = []
    while True:
        try:
            part = await post_input.reader.next()
        except (ValueError, AssertionError) as exc:
            raise TentError(f"Malformed multipart body: {exc}") from None
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise TentError("Nested multipart parts are not supported")
        if media.parse_media_type(part.headers.get("Content-Type")).mime == media.POST:
            raise TentError("Only one post part is allowed")
        if not part.filename:
            await part.release()
            continue
        try:
            stored = await blobs.upload(_chunks(part), max_size, now_ms())
        except TooLarge:
            raise TentError(f"Attachment too large: at most {max_size} bytes", 413) from None
        uploads.append(
            {
                "category": _INDEX_SUFFIX.sub("", part.name or "") or "attachment",
                "content_type": part.headers.get("Content-Type") or "application/octet-stream",
                "name": part.filename,
                "digest": stored.digest,
                "size": stored.size,
            }
        )
    return uploads


async def resolve_attachments(
    request: web.Request,
    post_input: PostInput,
    principal: Principal,
    own_entity: str,
    *,
    check_known: bool = True,
) -> dict[str, Any]:
    """The body with its final attachments: those listed by digest (known, and readable by
    the caller, so nobody can copy a private file by guessing its digest), then the uploads."""
    body = post_input.body
    listed = [dict(a) for a in body.get("attachments") or []]
    if check_known and listed:
        blobs = request.app[BLOBS]
        for a in listed:
            if not a.get("digest") or not a.get("name") or not a.get("content_type"):
                raise TentError("Unknown attachment: " + orjson.dumps(a).decode())
        digests = [a["digest"] for a in listed]
        sizes = await blobs.sizes(digests)
        readable = await blobs.readable_digests(digests, principal.feed_visibility(own_entity))
        for a in listed:
            if a["digest"] not in sizes or a["digest"] not in readable:
                raise TentError("Unknown attachment: " + orjson.dumps(a).decode())
            a["size"] = sizes[a["digest"]]
    attachments = listed + await read_uploads(request, post_input, settings_of(request).max_attachment_size)
    seen: set[tuple[str, str]] = set()
    for a in attachments:
        key = (a.get("name", ""), a.get("content_type", ""))
        if key in seen:
            raise TentError(f"Duplicate attachment name and content type: {key[0]} ({key[1]})")
        seen.add(key)
    if not attachments:
        return {k: v for k, v in body.items() if k != "attachments"}
    return {**body, "attachments": attachments}
