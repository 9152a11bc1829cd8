"""The shapes of a stored post and its parts (docs/protocol.md §3), as the server keeps them:
what the main paths (building, storing, publishing, reading) pass around instead of
`dict[str, Any]`. They describe the JSON, they do not check it (validation.py does)."""

from __future__ import annotations

from typing import Any, Required, TypedDict


class Parent(TypedDict, total=False):
    version: Required[str]
    entity: str
    post: str


class Version(TypedDict, total=False):
    id: Required[str]
    published_at: Required[int]
    received_at: Required[int]
    parents: list[Parent]
    message: str


class Mention(TypedDict, total=False):
    entity: str
    post: str
    version: str
    type: str
    public: bool


class Ref(TypedDict, total=False):
    entity: str
    post: Required[str]
    version: str
    type: str


class Attachment(TypedDict, total=False):
    digest: Required[str]
    name: Required[str]
    content_type: Required[str]
    category: str
    size: int


class Permissions(TypedDict, total=False):
    public: bool
    entities: list[str]
    groups: list[dict[str, str]]


class AppSummary(TypedDict):
    id: str
    name: str
    url: str


class Post(TypedDict, total=False):
    id: Required[str]
    entity: Required[str]
    type: Required[str]
    published_at: Required[int]
    received_at: Required[int]
    version: Required[Version]
    content: dict[str, Any]
    mentions: list[Mention]
    refs: list[Ref]
    attachments: list[Attachment]
    permissions: Permissions
    licenses: list[dict[str, str]]
    app: AppSummary
