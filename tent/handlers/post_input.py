"""Reading a post from a request: a JSON body, or multipart/form-data with the post part
first and then attachments. The caller's authorization is decided as soon as the post's type
is known, then the post is validated, and only then are attachments streamed into storage,
hashed on the way when the request signed a payload hash (tent/auth/payload.py)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import BodyPartReader, MultipartReader, web

from tent.auth.payload import PAYLOAD_CHECK, HashingStream
from tent.core import media
from tent.core.errors import TentError
from tent.core.input_safety import check_attachment_part, parse_json
from tent.core.posts import now_ms
from tent.core.principal import Principal
from tent.core.types import PostType
from tent.core.validation import check_post, identify_post
from tent.handlers.common import BLOBS, settings_of
from tent.http_input import check_headers, read_body, reading_body
from tent.store.blobs import BlobStore, TooLarge, Upload

INVALID_CONTENT_TYPE = (
    "Invalid Content-Type header. The header must be application/vnd.tent.post.v0+json "
    "or multipart/form-data."
)
_INDEX_SUFFIX = re.compile(r"\[\d*\]$")


@dataclass(slots=True)
class PostInput:
    body: dict[str, Any]
    post_type: PostType
    media_type: media.MediaType
    reader: MultipartReader | None = None
    stream: HashingStream | None = None  # the body's hash is checked once it is all read
    uploads: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rel(self) -> str | None:
        return self.media_type.params.get("rel")


Authorize = Callable[[dict[str, Any], PostType, media.MediaType], Awaitable[None]]


def _identify(raw: bytes, media_type: media.MediaType) -> tuple[dict[str, Any], PostType]:
    """JSON, the type, then the Content-Type check (tentd's order, §3.1)."""
    if not raw.strip():
        raise TentError("Request body missing.")
    body, post_type = identify_post(parse_json(raw))
    if media_type.mime != media.POST or media_type.params.get("type") != body["type"]:
        raise TentError(INVALID_CONTENT_TYPE, 415)
    return body, post_type


async def _read_limited(part: BodyPartReader, limit: int) -> bytes:
    data = bytearray()
    with reading_body():
        while chunk := await part.read_chunk(64 * 1024):
            data += chunk
            if len(data) > limit:
                raise TentError("Request body too large", 413)
    return bytes(data)


def _multipart(request: web.Request) -> tuple[MultipartReader, HashingStream | None]:
    """A reader over the raw body, through a hashing stream when the request signed a hash."""
    check = request.get(PAYLOAD_CHECK)
    stream = HashingStream(request.content, check) if check is not None else None
    reader = MultipartReader(
        request.headers,
        stream or request.content,  # type: ignore[arg-type]
        client_max_size=settings_of(request).max_body_size,
    )
    return reader, stream


async def read_post(request: web.Request, authorize: Authorize) -> PostInput:
    """The post of a request, JSON or the first part of a multipart body. `authorize` (which
    raises) decides as soon as the type is known, before the content is validated."""
    content_type = media.parse_media_type(request.headers.get("Content-Type"))
    reader, stream = None, None
    if content_type.mime != "multipart/form-data":
        raw, media_type = await read_body(request), content_type
    else:
        try:
            reader, stream = _multipart(request)
            with reading_body():
                part = await reader.next()
        except (ValueError, AssertionError, KeyError) as exc:
            raise TentError(f"Malformed multipart body: {exc}") from None
        if not isinstance(part, BodyPartReader):
            raise TentError("Request body missing.")
        check_headers(part.headers, "Multipart post part header")
        media_type = media.parse_media_type(part.headers.get("Content-Type"))
        if media_type.mime != media.POST:
            raise TentError(
                f"The first part of a multipart post must be the post ({media.POST}); attachments follow it"
            )
        raw = await _read_limited(part, settings_of(request).max_body_size)
    body, post_type = _identify(raw, media_type)
    await authorize(body, post_type, media_type)
    check_post(body, post_type)
    return PostInput(body, post_type, media_type, reader, stream)


def attachment_part(part: BodyPartReader) -> tuple[str, str, str]:
    """(field name, file name, media type) of a file part, each checked before it is stored."""
    check_headers(part.headers, f"Multipart part {(part.name or '')[:64]!r} header")
    try:
        field_name, filename = part.name or "", part.filename
    except (ValueError, KeyError) as exc:  # a Content-Disposition aiohttp cannot parse
        raise TentError(f"Malformed multipart part header: {exc}") from None
    return check_attachment_part(field_name, filename, part.headers.get("Content-Type"))


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(256 * 1024):
        yield chunk


async def next_part(reader: MultipartReader) -> BodyPartReader | None:
    try:
        with reading_body():
            part = await reader.next()
    except (ValueError, AssertionError, KeyError) as exc:
        raise TentError(f"Malformed multipart body: {exc}") from None
    if part is not None and not isinstance(part, BodyPartReader):
        raise TentError("Nested multipart parts are not supported")
    return part


async def stage_file(blobs: BlobStore, part: BodyPartReader, max_size: int) -> tuple[Upload, dict[str, Any]]:
    """Stream one file part into staging (never whole in memory), with its attachment entry
    (D-21). The API's multipart posts and the owner's upload forms both come through here;
    the caller files the staged bytes (`blobs.commit`) once the whole body is accepted."""
    field_name, filename, part_type = attachment_part(part)
    try:
        with reading_body():
            stored = await blobs.stage(_chunks(part), max_size, now_ms())
    except TooLarge:
        raise TentError(f"Attachment too large: at most {max_size} bytes", 413) from None
    return stored, {
        "category": _INDEX_SUFFIX.sub("", field_name) or "attachment",
        "content_type": part_type,
        "name": filename,
        "digest": stored.digest,
        "size": stored.size,
    }


async def _file_parts(post_input: PostInput) -> AsyncIterator[BodyPartReader]:
    """The parts after the post that carry a file; once the body is all read, its payload
    hash is checked (403 on a mismatch) before the caller may commit anything."""
    if post_input.reader is None:
        return
    while (part := await next_part(post_input.reader)) is not None:
        if media.parse_media_type(part.headers.get("Content-Type")).mime == media.POST:
            raise TentError("Only one post part is allowed")
        yield part
    if post_input.stream is not None:
        await post_input.stream.finish()


async def finish_body(post_input: PostInput) -> None:
    """Read the rest of a body whose files are not kept (a notification), checking its hash."""
    async for part in _file_parts(post_input):
        await part.release()


async def read_uploads(request: web.Request, post_input: PostInput, max_size: int) -> list[dict[str, Any]]:
    """Stream every file part into storage; each becomes an attachment entry (D-21). The
    bytes are staged and filed under their digests only after the body's hash matched."""
    blobs = request.app[BLOBS]
    uploads: list[dict[str, Any]] = []
    staged: list[Upload] = []
    try:
        async for part in _file_parts(post_input):
            stored, entry = await stage_file(blobs, part, max_size)
            staged.append(stored)
            uploads.append(entry)
        await blobs.commit(staged)
    except BaseException:
        await blobs.discard(staged)
        raise
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
