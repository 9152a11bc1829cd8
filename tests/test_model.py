"""The typed shapes of tent.core.model describe what the builders really make: a member the
builders add, or a required one they leave out, shows here before a reader of the types is
misled."""

from __future__ import annotations

from typing import Any, get_type_hints

from tent.core.model import Attachment, Mention, Post, Ref, Version
from tent.core.posts import build_delete_post, build_new_post, build_new_version, build_received

ENTITY = "https://alice.example"
STATUS = "https://tent.io/types/status/v0#"


def _full_post() -> Post:
    body: dict[str, Any] = {
        "type": STATUS,
        "content": {"text": "hello"},
        "mentions": [{"entity": "https://bob.example", "post": "p1", "public": False}],
        "refs": [{"entity": "https://bob.example", "post": "p1", "type": STATUS}],
        "licenses": [{"url": "https://creativecommons.org/licenses/by/4.0/"}],
        "attachments": [{"digest": "d" * 64, "name": "a.png", "content_type": "image/png", "size": 3}],
        "permissions": {"public": False, "entities": ["https://bob.example"]},
    }
    app = {"id": "app1", "name": "Writer", "url": "https://writer.example"}
    return build_new_post(body, entity=ENTITY, now=1000, app=app)


def _fits(value: dict[str, Any], shape: type) -> None:
    declared = set(get_type_hints(shape))
    assert set(value) <= declared, f"{shape.__name__} lacks {set(value) - declared}"
    assert shape.__required_keys__ <= set(value), f"missing {shape.__required_keys__ - set(value)}"


def test_every_member_a_built_post_carries_is_declared_by_the_model() -> None:
    post = _full_post()
    _fits(dict(post), Post)
    _fits(dict(post["version"]), Version)
    for mention in post["mentions"]:
        _fits(dict(mention), Mention)
    for ref in post["refs"]:
        _fits(dict(ref), Ref)
    for attachment in post["attachments"]:
        _fits(dict(attachment), Attachment)


def test_versions_received_copies_and_delete_posts_fit_the_model_too() -> None:
    first = _full_post()
    body = {"type": STATUS, "content": {"text": "again"}, "version": {"parents": [{"version": "x"}]}}
    second = build_new_version(body, first, now=2000)
    received = build_received({**dict(first), "entity": "https://bob.example"}, now=3000)
    deleted = build_delete_post(first, version=None, now=4000)
    for post in (second, received, deleted):
        _fits(dict(post), Post)
        _fits(dict(post["version"]), Version)
