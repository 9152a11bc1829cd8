"""Version ids must match the reference recordings byte for byte."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tent.canonical import canonical_json, digest, reduce_post, version_id

DATA = Path(__file__).resolve().parent / "data"


def _example_posts() -> list[dict]:
    """Every post with a version id in the recorded request/response pairs."""
    examples = json.loads((DATA / "api_examples.json").read_text())
    found: list[dict] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("version"), dict) and "id" in value["version"] and "type" in value:
                found.append(value)
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for text in examples.values():
        for block in re.findall(r"```json\n(.*?)```", text, re.DOTALL):
            walk(json.loads(block))
    return found


EXAMPLE_POSTS = _example_posts()


def test_examples_hold_all_eighteen_versioned_posts() -> None:
    assert len(EXAMPLE_POSTS) == 18


@pytest.mark.parametrize("post", EXAMPLE_POSTS, ids=lambda p: p["version"]["id"][:12])
def test_version_id_of_every_recorded_post_is_reproduced(post: dict) -> None:
    assert version_id(post) == post["version"]["id"]


def test_meta_post_canonical_string_matches_worked_example() -> None:
    meta = next(p for p in EXAMPLE_POSTS if p["id"] == "meta")
    text = canonical_json(meta).decode()
    assert text.startswith('{"content":{"entity":"http://bb216a47d970.alpha.attic.is","profile":{}')
    assert text.endswith('"type":"https://tent.io/types/meta/v0#","version":{"published_at":1372435655027}}')
    assert version_id(meta) == "2857234617380a0a4f1f09ab15a3b7988624e5e054063090576f9c66f35b605b"


def test_private_mention_does_not_change_the_version_id() -> None:
    post = {
        "id": "a",
        "entity": "https://e.example",
        "type": "https://tent.io/types/status/v0#",
        "published_at": 1,
        "version": {"published_at": 1},
        "content": {"text": "hi"},
    }
    with_mention = dict(post, mentions=[{"post": "b", "public": False}])
    assert version_id(post) == version_id(with_mention)


def test_only_the_matching_element_loses_redundant_post_and_entity() -> None:
    post = {
        "id": "a",
        "entity": "https://e.example",
        "type": "https://x.example/t/v0#",
        "published_at": 1,
        "version": {"published_at": 1},
        "refs": [{"post": "a", "entity": "https://e.example"}, {"post": "b", "entity": "https://o.example"}],
    }
    assert reduce_post(post)["refs"] == [{}, {"post": "b", "entity": "https://o.example"}]


def test_original_entity_replaces_entity_before_redundancy_check() -> None:
    post = {
        "id": "a",
        "entity": "https://new.example",
        "original_entity": "https://old.example",
        "type": "https://x.example/t/v0#",
        "published_at": 1,
        "version": {"published_at": 1},
        "mentions": [{"entity": "https://old.example", "post": "z"}],
    }
    reduced = reduce_post(post)
    assert reduced["entity"] == "https://old.example"
    assert reduced["mentions"] == [{"post": "z"}]


def test_empty_content_inner_objects_stay() -> None:
    post = {
        "id": "a",
        "entity": "https://e.example",
        "type": "https://x.example/t/v0#",
        "published_at": 1,
        "content": {"profile": {}},
        "version": {"published_at": 1},
    }
    assert b'"content":{"profile":{}}' in canonical_json(post)


def test_non_ascii_is_raw_utf8_and_controls_are_escaped() -> None:
    post = {
        "id": "a",
        "entity": "https://e.example",
        "type": "https://x.example/t/v0#",
        "published_at": 1,
        "content": {"text": "é/\n"},
        "version": {"published_at": 1},
    }
    assert '"text":"é/\\n"'.encode() in canonical_json(post)


def test_float_cannot_be_canonicalised() -> None:
    with pytest.raises(ValueError):
        canonical_json({"id": "a", "content": {"x": 1.5}})


def test_attachment_digest_matches_recorded_example() -> None:
    assert digest(b"example attachment data").startswith("9585ac48e055ed49")


def test_fast_serialisation_equals_the_stated_rule_for_tricky_text() -> None:
    from tent.canonical import _encode

    post = {
        "id": "a",
        "entity": "https://e.example",
        "type": "https://x.example/t/v0#",
        "published_at": 1,
        "version": {"published_at": 1},
        "content": {
            "text": 'a\nb\t"\\/é😀\u2028\x00\x1f\x7f',
            "é": 1,
            "e": 2,
            "Z": 3,
            "😀": 4,
            "\uffff": 5,
            "big": 10**18,
            "neg": -5,
            "list": [True, None, {"y": 1, "x": 2}],
        },
    }
    out: list[str] = []
    _encode(reduce_post(post), out)
    assert canonical_json(post) == "".join(out).encode("utf-8")


def test_integers_beyond_64_bits_still_canonicalise() -> None:
    post = {
        "id": "a",
        "entity": "https://e.example",
        "type": "https://x.example/t/v0#",
        "published_at": 1,
        "version": {"published_at": 1},
        "content": {"n": 2**70},
    }
    assert b'"n":1180591620717411303424' in canonical_json(post)
