"""Post body validation: check order, envelope and content schemas, D-01, D-50, type rules."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tent.core.errors import InvalidAttributes, TentError
from tent.core.validation import validate_post

EXAMPLES = Path(__file__).resolve().parent / "data" / "api_example_posts.json"
ENTITY = "https://alice.example.com"
STATUS = "https://tent.io/types/status/v0#"


META = "https://tent.io/types/meta/v0#"


def example_posts() -> list[tuple[str, dict[str, Any]]]:
    data = json.loads(EXAMPLES.read_text())
    return [(item["source"], item["post"]) for item in data["posts"]]


def status(**extra: Any) -> dict[str, Any]:
    return {"type": STATUS, "content": {"text": "hello"}, **extra}


def diff_of(body: object) -> list[dict[str, Any]]:
    with pytest.raises(InvalidAttributes) as info:
        validate_post(body)
    assert info.value.status == 400
    assert info.value.message == "Invalid Attributes"
    assert info.value.body() == {"error": "Invalid Attributes", "diff": info.value.diff}
    return info.value.diff


def error_of(body: object) -> str:
    with pytest.raises(TentError) as info:
        validate_post(body)
    assert not isinstance(info.value, InvalidAttributes)
    assert info.value.status == 400
    return info.value.message


def meta_urls(root: str = ENTITY) -> dict[str, str]:
    return {
        "oauth_auth": f"{root}/oauth/authorize",
        "oauth_token": f"{root}/oauth/token",
        "posts_feed": f"{root}/posts",
        "new_post": f"{root}/posts",
        "post": f"{root}/posts/{{entity}}/{{post}}",
        "post_attachment": f"{root}/posts/{{entity}}/{{post}}/attachments/{{name}}",
        "attachment": f"{root}/attachments/{{entity}}/{{digest}}",
        "batch": f"{root}/batch",
        "server_info": f"{root}/server",
        "discover": f"{root}/discover?entity={{entity}}",
    }


# --- result ---------------------------------------------------------------------------------


def test_valid_status_returns_post_and_parsed_type() -> None:
    post, post_type = validate_post(status())
    assert post == status()
    assert post_type.base == "https://tent.io/types/status"
    assert post_type.version == "0"
    assert post_type.fragment == ""
    assert post_type.name == "status"


def test_returned_post_is_a_copy_sharing_nothing_with_the_body() -> None:
    body = status(mentions=[{"entity": ENTITY}])
    post, _ = validate_post(body)
    post["content"]["text"] = "changed"
    post["mentions"][0]["entity"] = "https://bob.example.com"
    assert body == status(mentions=[{"entity": ENTITY}])


# --- check order and the plain-message errors -------------------------------------------------


@pytest.mark.parametrize("body", [None, "a string", ["list"], 5])
def test_non_object_body_is_request_body_missing(body: object) -> None:
    assert error_of(body) == "Request body missing."


def test_non_object_content_is_malformed_content_with_compact_json() -> None:
    body = {"type": STATUS, "content": "hi"}
    assert error_of(body) == 'Malformed content: {"type":"https://tent.io/types/status/v0#","content":"hi"}'


def test_malformed_content_json_keeps_unicode_and_drops_nulls() -> None:
    body = {"type": STATUS, "content": ["é"], "id": None}
    assert error_of(body) == 'Malformed content: {"type":"https://tent.io/types/status/v0#","content":["é"]}'


def test_check_order_malformed_content_before_missing_type() -> None:
    assert error_of({"content": 1}) == 'Malformed content: {"content":1}'


def test_missing_type_is_type_not_specified_with_body_json() -> None:
    assert error_of({"content": {"text": "x"}}) == 'Type not specified: {"content":{"text":"x"}}'


def test_null_type_counts_as_missing() -> None:
    assert error_of({"type": None}) == "Type not specified: {}"


@pytest.mark.parametrize(
    ("type_value", "shown"),
    [
        ("status", '"status"'),
        ("https://tent.io/types/status", '"https://tent.io/types/status"'),
        ("/types/status/v0#", '"/types/status/v0#"'),
        (5, "5"),
        ({"a": 1}, '{"a":1}'),
    ],
)
def test_unparsable_type_is_invalid_type_with_its_json(type_value: object, shown: str) -> None:
    assert error_of({"type": type_value}) == f"Invalid type: {shown}"


def test_check_order_invalid_type_before_floats() -> None:
    assert error_of({"type": "nope", "published_at": 1.5}) == 'Invalid type: "nope"'


def test_check_order_floats_before_envelope_schema() -> None:
    diff = diff_of(status(published_at=1.5, extra="x"))
    assert diff == [
        {
            "op": "replace",
            "path": "/published_at",
            "value": 0,
            "current_value": 1.5,
            "type": "integer",
            "message": "floats are not allowed in posts",
        }
    ]


def test_check_order_envelope_before_content_schema() -> None:
    diff = diff_of({"type": STATUS, "content": {"bogus": 1}, "extra": 1})
    assert diff == [{"op": "remove", "path": "/extra"}]


def test_check_order_content_schema_before_type_rules() -> None:
    body = {"type": "https://tent.io/types/repost/v0#", "refs": [], "content": {}}
    # repost has no content schema, so the type rule is what fails
    assert error_of(body) == "Repost must have exactly one ref"
    body = {"type": "https://tent.io/types/album/v0#", "content": {"cover": {"post": "x"}}}
    assert diff_of(body) == [
        {
            "op": "add",
            "path": "/content/title",
            "value": "",
            "type": "string",
            "message": "expected type string, got null",
        }
    ]


# --- null members ------------------------------------------------------------------------------


def test_null_members_are_dropped() -> None:
    body = {
        "type": STATUS,
        "content": {"text": "hi"},
        "id": None,
        "published_at": None,
        "version": {"id": None, "message": None, "parents": [{"version": "abc", "post": None}]},
        "mentions": [{"entity": ENTITY, "post": None}],
        "refs": [{"post": "p1", "version": None}],
        "licenses": [{"url": "https://license.example.com", "extra": None}],
        "attachments": [{"name": "a.txt", "digest": None}],
        "app": {"id": None, "name": "App"},
        "permissions": {"public": None, "entities": [ENTITY]},
    }
    post, _ = validate_post(body)
    assert post == {
        "type": STATUS,
        "content": {"text": "hi"},
        "version": {"parents": [{"version": "abc"}]},
        "mentions": [{"entity": ENTITY}],
        "refs": [{"post": "p1"}],
        "licenses": [{"url": "https://license.example.com"}],
        "attachments": [{"name": "a.txt"}],
        "app": {"name": "App"},
        "permissions": {"entities": [ENTITY]},
    }


def test_null_inside_content_is_not_dropped_and_fails_the_schema() -> None:
    body = {"type": "https://tent.io/types/photo/v0#", "content": {"caption": None}}
    assert diff_of(body) == [
        {
            "op": "replace",
            "path": "/content/caption",
            "value": "",
            "current_value": None,
            "type": "string",
            "message": "expected type string, got null",
        }
    ]


def test_null_array_items_are_kept_and_rejected() -> None:
    assert diff_of(status(mentions=[None])) == [
        {
            "op": "replace",
            "path": "/mentions/0",
            "value": {},
            "current_value": None,
            "type": "object",
            "message": "expected type object, got null",
        }
    ]


# --- floats (D-01) -----------------------------------------------------------------------------


def test_float_in_content_is_rejected_with_replace_diff() -> None:
    body = {"type": "https://example.org/types/thing/v0#", "content": {"x": 1.5}}
    assert diff_of(body) == [
        {
            "op": "replace",
            "path": "/content/x",
            "value": 0,
            "current_value": 1.5,
            "type": "integer",
            "message": "floats are not allowed in posts",
        }
    ]


def test_every_float_gets_its_own_entry_with_escaped_paths() -> None:
    body = {
        "type": "https://example.org/types/thing/v0#",
        "content": {"a/b": [1, 2.0], "c~d": {"e": -0.5}},
        "version": {"published_at": 3.0},
    }
    paths = [(d["path"], d["current_value"]) for d in diff_of(body)]
    assert paths == [("/content/a~1b/1", 2.0), ("/content/c~0d/e", -0.5), ("/version/published_at", 3.0)]


def test_whole_number_integers_are_not_floats() -> None:
    validate_post({"type": "https://example.org/types/thing/v0#", "content": {"big": 10**20, "neg": -3}})


# --- envelope schema (§2.1) ----------------------------------------------------------------------


def test_unknown_top_level_member_gets_remove_diff() -> None:
    assert diff_of(status(extra_member=1)) == [{"op": "remove", "path": "/extra_member"}]


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ({"version": {"x": 1}}, "/version/x"),
        ({"version": {"parents": [{"version": "v", "x": 1}]}}, "/version/parents/0/x"),
        ({"mentions": [{"entity": ENTITY}, {"x": 1}]}, "/mentions/1/x"),
        ({"refs": [{"post": "p", "x": 1}]}, "/refs/0/x"),
        ({"licenses": [{"url": "https://l.example.com", "x": 1}]}, "/licenses/0/x"),
        ({"attachments": [{"x": 1}]}, "/attachments/0/x"),
        ({"app": {"x": 1}}, "/app/x"),
        ({"permissions": {"x": 1}}, "/permissions/x"),
        ({"permissions": {"groups": [{"post": "g", "x": 1}]}}, "/permissions/groups/0/x"),
    ],
)
def test_unknown_nested_envelope_member_gets_remove_diff(extra: dict[str, Any], path: str) -> None:
    assert diff_of(status(**extra)) == [{"op": "remove", "path": path}]


def test_string_timestamp_gets_replace_diff() -> None:
    assert diff_of(status(published_at="123")) == [
        {
            "op": "replace",
            "path": "/published_at",
            "value": 0,
            "current_value": "123",
            "type": "integer",
            "message": "expected type integer, got string",
        }
    ]


def test_boolean_is_not_an_integer() -> None:
    assert diff_of(status(received_at=True)) == [
        {
            "op": "replace",
            "path": "/received_at",
            "value": 0,
            "current_value": True,
            "type": "integer",
            "message": "expected type integer, got boolean",
        }
    ]


def test_negative_timestamp_is_rejected() -> None:
    assert diff_of(status(version={"published_at": -1})) == [
        {
            "op": "replace",
            "path": "/version/published_at",
            "value": 0,
            "current_value": -1,
            "type": "integer",
            "minimum": 0,
            "message": "expected integer >= 0, got -1",
        }
    ]


def test_string_boolean_is_not_a_boolean() -> None:
    assert diff_of(status(permissions={"public": "false"})) == [
        {
            "op": "replace",
            "path": "/permissions/public",
            "value": False,
            "current_value": "false",
            "type": "boolean",
            "message": "expected type boolean, got string",
        }
    ]


@pytest.mark.parametrize(
    ("extra", "path", "kind", "value", "got"),
    [
        ({"mentions": {}}, "/mentions", "array", [], "object"),
        ({"version": []}, "/version", "object", {}, "array"),
        ({"id": 5}, "/id", "string", "", "integer"),
        ({"attachments": [{"size": "23"}]}, "/attachments/0/size", "integer", 0, "string"),
        ({"permissions": {"entities": ENTITY}}, "/permissions/entities", "array", [], "string"),
    ],
)
def test_wrong_envelope_type_gets_replace_diff(
    extra: dict[str, Any], path: str, kind: str, value: Any, got: str
) -> None:
    current = extra
    for part in path.strip("/").split("/"):
        current = current[int(part)] if isinstance(current, list) else current[part]
    assert diff_of(status(**extra)) == [
        {
            "op": "replace",
            "path": path,
            "value": value,
            "current_value": current,
            "type": kind,
            "message": f"expected type {kind}, got {got}",
        }
    ]


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ({"version": {"parents": [{"post": "p"}]}}, "/version/parents/0/version"),
        ({"refs": [{"post": "a"}, {"entity": ENTITY}]}, "/refs/1/post"),
        ({"licenses": [{}]}, "/licenses/0/url"),
        ({"permissions": {"groups": [{}]}}, "/permissions/groups/0/post"),
    ],
)
def test_missing_required_envelope_member_gets_add_diff(extra: dict[str, Any], path: str) -> None:
    assert diff_of(status(**extra)) == [
        {
            "op": "add",
            "path": path,
            "value": "",
            "type": "string",
            "message": "expected type string, got null",
        }
    ]


@pytest.mark.parametrize(
    ("extra", "path", "bad"),
    [
        ({"entity": "alice.example.com"}, "/entity", "alice.example.com"),
        ({"original_entity": "/relative"}, "/original_entity", "/relative"),
        (
            {"mentions": [{"entity": "mailto:bob@example.com"}]},
            "/mentions/0/entity",
            "mailto:bob@example.com",
        ),
        ({"refs": [{"post": "p", "entity": "bob"}]}, "/refs/0/entity", "bob"),
        ({"permissions": {"entities": [ENTITY, "http://"]}}, "/permissions/entities/1", "http://"),
        ({"version": {"parents": [{"version": "v", "entity": "x"}]}}, "/version/parents/0/entity", "x"),
    ],
)
def test_envelope_uri_without_scheme_or_host_gets_format_diff(
    extra: dict[str, Any], path: str, bad: str
) -> None:
    assert diff_of(status(**extra)) == [
        {
            "op": "replace",
            "path": path,
            "value": "https://example.com",
            "current_value": bad,
            "type": "string",
            "format": "uri",
            "message": "expected uri format",
        }
    ]


def test_urls_that_are_only_shown_need_not_be_absolute() -> None:
    validate_post(status(licenses=[{"url": "cc-by"}], app={"url": "app"}))
    validate_post(
        {
            "type": "https://tent.io/types/photo/v0#",
            "content": {"artist": {"entity": "alice"}},
        }
    )
    validate_post(
        {
            "type": "https://tent.io/types/album/v0#",
            "content": {"title": "t", "cover": {"post": "p", "entity": "x"}},
            "refs": [{"post": "p"}],
        }
    )


def test_entity_url_with_path_and_port_is_a_uri() -> None:
    validate_post(status(entity="http://localhost:4000/u1/tent", mentions=[{"entity": "http://[::1]:8080"}]))


def test_full_envelope_is_accepted() -> None:
    body = status(
        id="abc",
        entity=ENTITY,
        original_entity=ENTITY,
        published_at=0,
        received_at=1,
        version={
            "id": "v2",
            "published_at": 2,
            "received_at": 3,
            "message": "edit",
            "parents": [{"version": "v1", "post": "abc", "entity": ENTITY, "original_entity": ENTITY}],
        },
        mentions=[
            {
                "entity": ENTITY,
                "original_entity": ENTITY,
                "post": "p",
                "version": "v",
                "type": STATUS,
                "public": False,
            }
        ],
        refs=[{"entity": ENTITY, "original_entity": ENTITY, "post": "p", "version": "v", "type": STATUS}],
        licenses=[{"url": "https://creativecommons.org/licenses/by/3.0/"}],
        attachments=[
            {"category": "photo", "content_type": "image/png", "name": "a.png", "digest": "00", "size": 0}
        ],
        app={"id": "app1", "name": "App", "url": "https://app.example.com"},
        permissions={"public": False, "entities": [ENTITY], "groups": [{"post": "g"}]},
    )
    post, _ = validate_post(body)
    assert post == body


def test_all_envelope_failures_are_reported_together() -> None:
    diff = diff_of(status(extra=1, published_at="x", refs=[{}]))
    assert [d["path"] for d in diff] == ["/extra", "/published_at", "/refs/0/post"]


# --- content schemas (§9) ------------------------------------------------------------------------


def test_unknown_type_content_is_not_checked() -> None:
    body = {"type": "https://example.org/types/status-1/v0#", "content": {"anything": [1, {"goes": None}]}}
    assert validate_post(body)[0] == body


def test_known_name_outside_tent_types_is_not_checked() -> None:
    body = {"type": "https://example.org/types/status/v0#", "content": {"no_text": True}}
    validate_post(body)


def test_fictitious_tent_type_is_not_checked() -> None:
    validate_post({"type": "https://tent.io/types/fictitious/v0#", "content": {"a": "b"}})


def test_status_text_of_257_code_points_is_rejected() -> None:
    text = "a" * 257
    assert diff_of({"type": STATUS, "content": {"text": text}}) == [
        {
            "op": "replace",
            "path": "/content/text",
            "value": "a" * 256,
            "current_value": text,
            "type": "string",
            "maxLength": 256,
            "message": "expected at most 256 characters, got 257",
        }
    ]


def test_status_text_of_256_astral_code_points_is_accepted() -> None:
    text = "\U0001f600" * 256  # 512 UTF-16 units, 1024 UTF-8 bytes, 256 code points
    validate_post({"type": STATUS, "content": {"text": text}})


def test_status_text_is_required() -> None:
    assert diff_of({"type": STATUS}) == [
        {
            "op": "add",
            "path": "/content/text",
            "value": "",
            "type": "string",
            "message": "expected type string, got null",
        }
    ]


def test_content_members_the_schema_does_not_define_are_kept() -> None:
    body = status(content={"text": "x", "extra_member": 1, "client": {"name": "c"}})
    assert validate_post(body)[0]["content"] == body["content"]


def test_status_location_needs_latitude_and_longitude() -> None:
    body = status(content={"text": "x", "location": {"altitude": "3"}})
    assert diff_of(body) == [
        {
            "op": "add",
            "path": "/content/location/latitude",
            "value": "",
            "type": "string",
            "message": "expected type string, got null",
        },
        {
            "op": "add",
            "path": "/content/location/longitude",
            "value": "",
            "type": "string",
            "message": "expected type string, got null",
        },
    ]


def test_status_location_decimals_are_strings_not_numbers() -> None:
    validate_post(status(content={"text": "x", "location": {"latitude": "-12.5", "longitude": "30"}}))
    body = status(content={"text": "x", "location": {"latitude": 12, "longitude": "30"}})
    assert diff_of(body) == [
        {
            "op": "replace",
            "path": "/content/location/latitude",
            "value": "",
            "current_value": 12,
            "type": "string",
            "message": "expected type string, got integer",
        }
    ]


def test_status_fragment_does_not_change_the_schema() -> None:
    body = {"type": "https://tent.io/types/status/v0#whatever", "content": {}}
    assert diff_of(body)[0]["path"] == "/content/text"


def test_status_other_version_uses_the_base_schema() -> None:
    assert diff_of({"type": "https://tent.io/types/status/v1#"})[0]["path"] == "/content/text"


def test_content_failures_are_collected_into_one_diff() -> None:
    body = {
        "type": "https://tent.io/types/app/v0#",
        "content": {"url": "nope", "types": {"read": "all"}, "x": 1},
    }
    assert diff_of(body) == [
        {
            "op": "add",
            "path": "/content/name",
            "value": "",
            "type": "string",
            "message": "expected type string, got null",
        },
        {
            "op": "add",
            "path": "/content/redirect_uri",
            "value": "",
            "type": "string",
            "message": "expected type string, got null",
        },
        {
            "op": "replace",
            "path": "/content/url",
            "value": "https://example.com",
            "current_value": "nope",
            "type": "string",
            "format": "uri",
            "message": "expected uri format",
        },
        {
            "op": "replace",
            "path": "/content/types/read",
            "value": [],
            "current_value": "all",
            "type": "array",
            "message": "expected type array, got string",
        },
    ]


def test_photo_dimensions_need_width_and_height() -> None:
    body = {"type": "https://tent.io/types/photo/v0#", "content": {"dimensions": {"width": 5}}}
    assert diff_of(body) == [
        {
            "op": "add",
            "path": "/content/dimensions/height",
            "value": 0,
            "type": "integer",
            "message": "expected type integer, got null",
        }
    ]


def test_photo_with_every_member_is_accepted() -> None:
    content = {
        "caption": "c",
        "filename": "f.jpg",
        "location": {"latitude": "1.5", "longitude": "-2", "altitude": "100"},
        "artist": {"name": "A", "entity": ENTITY},
        "film_speed": "100",
        "focal_length": "35.0",
        "aperture": "2.8",
        "exposure": {"bias": "0", "mode": "auto", "time": "0.01", "program": "manual"},
        "flash": {"fired": False, "mode": "auto"},
        "white_balance": True,
        "metering_mode": "Spot",
        "camera": {"make": "M", "model": "X"},
        "lens": {
            "make": "L",
            "model": "Y",
            "focal_length": {"min": "18", "max": "55"},
            "aperture": {"min": "3.5", "max": "5.6"},
        },
        "resolution": {"width": 72, "height": 72},
        "dimensions": {"width": 640, "height": 480},
        "timestamp": 1372435714531,
        "orientation": "mirror+90",
    }
    validate_post({"type": "https://tent.io/types/photo/v0#", "content": content})


def test_photo_enum_like_lists_are_not_enforced() -> None:
    validate_post(
        {
            "type": "https://tent.io/types/photo/v0#",
            "content": {
                "orientation": "sideways",
                "metering_mode": "weird",
                "exposure": {"mode": "x"},
                "flash": {"mode": "y"},
            },
        }
    )


def test_relationship_content_is_taken_as_given() -> None:
    validate_post({"type": "https://tent.io/types/relationship/v0#initial", "mentions": [{"entity": ENTITY}]})
    validate_post({"type": "https://tent.io/types/relationship/v0#", "content": {}})
    validate_post({"type": "https://tent.io/types/relationship/v0#", "content": {"a": 1}})


def test_meta_servers_is_a_required_non_empty_array() -> None:
    body = {"type": "https://tent.io/types/meta/v0#", "content": {"entity": ENTITY}}
    assert diff_of(body) == [
        {
            "op": "add",
            "path": "/content/servers",
            "value": [],
            "type": "array",
            "message": "expected type array, got null",
        }
    ]
    body["content"]["servers"] = []
    assert diff_of(body) == [
        {
            "op": "add",
            "path": "/content/servers/0",
            "value": {},
            "type": "object",
            "message": "expected at least 1 items, got 0",
        }
    ]


def test_meta_urls_need_all_ten_keys_as_strings() -> None:
    urls = meta_urls()
    del urls["discover"]
    urls["batch"] = 1
    body = {
        "type": "https://tent.io/types/meta/v0#",
        "content": {"entity": ENTITY, "servers": [{"version": "0.3", "preference": 0, "urls": urls}]},
    }
    assert diff_of(body) == [
        {
            "op": "add",
            "path": "/content/servers/0/urls/discover",
            "value": "",
            "type": "string",
            "message": "expected type string, got null",
        },
        {
            "op": "replace",
            "path": "/content/servers/0/urls/batch",
            "value": "",
            "current_value": 1,
            "type": "string",
            "message": "expected type string, got integer",
        },
    ]


def test_meta_profile_is_taken_as_given() -> None:
    """Seed 003 sets no length or format on the profile: it is only shown."""
    profile = {
        "name": "n" * 257,
        "bio": "é" * 1000,
        "location": "l" * 300,
        "website": "example.com",
        "avatar": "x",
    }
    body = {
        "type": "https://tent.io/types/meta/v0#",
        "content": {
            "entity": ENTITY,
            "profile": profile,
            "servers": [{"version": "0.3", "preference": 0, "urls": meta_urls()}],
        },
    }
    assert validate_post(body)[0]["content"]["profile"] == profile
    body["content"]["profile"] = {"name": 5}
    assert diff_of(body)[0]["path"] == "/content/profile/name"


def test_credentials_algorithm_must_be_sha256() -> None:
    body = {
        "type": "https://tent.io/types/credentials/v0#https://tent.io/types/app/v0",
        "content": {"hawk_key": "k", "hawk_algorithm": "sha1"},
    }
    assert diff_of(body) == [
        {
            "op": "replace",
            "path": "/content/hawk_algorithm",
            "value": "sha256",
            "current_value": "sha1",
            "type": "string",
            "enum": ["sha256"],
            "message": "expected one of sha256",
        }
    ]


def test_delivery_failure_status_must_be_permanent_or_temporary() -> None:
    body = {
        "type": "https://tent.io/types/delivery-failure/v0#https://tent.io/types/status/v0",
        "content": {"entity": ENTITY, "status": "maybe", "reason": "anything"},
    }
    assert diff_of(body) == [
        {
            "op": "replace",
            "path": "/content/status",
            "value": "permanent",
            "current_value": "maybe",
            "type": "string",
            "enum": ["permanent", "temporary"],
            "message": "expected one of permanent, temporary",
        }
    ]


def test_app_auth_needs_types_read_write_and_scopes() -> None:
    body = {"type": "https://tent.io/types/app-auth/v0#", "content": {"types": {"read": []}}}
    assert diff_of(body) == [
        {
            "op": "add",
            "path": "/content/scopes",
            "value": [],
            "type": "array",
            "message": "expected type array, got null",
        },
        {
            "op": "add",
            "path": "/content/types/write",
            "value": [],
            "type": "array",
            "message": "expected type array, got null",
        },
    ]


def test_subscription_content_type_is_required() -> None:
    body = {
        "type": "https://tent.io/types/subscription/v0#https://tent.io/types/status/v0",
        "content": {},
        "mentions": [{"entity": ENTITY}],
    }
    assert diff_of(body) == [
        {
            "op": "add",
            "path": "/content/type",
            "value": "",
            "type": "string",
            "message": "expected type string, got null",
        }
    ]


def test_album_cover_needs_a_post() -> None:
    body = {"type": "https://tent.io/types/album/v0#", "content": {"title": "t", "cover": {"entity": ENTITY}}}
    assert diff_of(body) == [
        {
            "op": "add",
            "path": "/content/cover/post",
            "value": "",
            "type": "string",
            "message": "expected type string, got null",
        }
    ]


@pytest.mark.parametrize(
    ("type_name", "path"),
    [
        ("essay", "/content/body"),
        ("tag", "/content/name"),
        ("group", "/content/name"),
        ("group-member", "/content/entity"),
        ("credentials", "/content/hawk_key"),
        ("delivery-failure", "/content/entity"),
        ("meta", "/content/entity"),
    ],
)
def test_required_content_member_is_enforced(type_name: str, path: str) -> None:
    diff = diff_of({"type": f"https://tent.io/types/{type_name}/v0#", "content": {}})
    assert diff[0]["op"] == "add"
    assert diff[0]["path"] == path


# --- type rules --------------------------------------------------------------------------------


REPOST = "https://tent.io/types/repost/v0#https://tent.io/types/status/v0#"


def test_repost_needs_one_ref_and_mention() -> None:
    ref = {"entity": "https://bob.example.com", "post": "p1", "type": STATUS}
    mention = {"entity": "https://bob.example.com", "post": "p1"}
    assert error_of({"type": REPOST}) == "Repost must have exactly one ref"
    assert (
        error_of({"type": REPOST, "refs": [ref, ref], "mentions": [mention]})
        == "Repost must have exactly one ref"
    )
    assert error_of({"type": REPOST, "refs": [ref]}) == "Repost must mention the reposted post"
    assert (
        error_of({"type": REPOST, "refs": [ref], "mentions": [{"entity": "https://bob.example.com"}]})
        == "Repost must mention the reposted post"
    )
    validate_post({"type": REPOST, "refs": [ref], "mentions": [mention]})


def test_subscription_must_mention_an_entity() -> None:
    body = {
        "type": "https://tent.io/types/subscription/v0#https://tent.io/types/status/v0",
        "content": {"type": "https://tent.io/types/status/v0#"},
    }
    assert error_of(body) == "Subscription must mention an entity!"
    assert error_of({**body, "mentions": [{"post": "p"}]}) == "Subscription must mention an entity!"
    validate_post({**body, "mentions": [{"entity": ENTITY}]})


def test_app_auth_must_mention_an_app_post() -> None:
    body = {
        "type": "https://tent.io/types/app-auth/v0#",
        "content": {"types": {"read": [], "write": []}, "scopes": []},
    }
    assert error_of(body) == "Post must mention an app"
    assert error_of({**body, "mentions": [{"post": "a", "type": STATUS}]}) == "Post must mention an app"
    assert (
        error_of({**body, "mentions": [{"type": "https://tent.io/types/app/v0#"}]})
        == "Post must mention an app"
    )
    validate_post({**body, "mentions": [{"post": "a", "type": "https://tent.io/types/app/v0#"}]})


def test_cursor_needs_exactly_one_ref() -> None:
    body = {"type": "https://tent.io/types/cursor/v0#https://cursors.example.com/home"}
    assert error_of(body) == "Cursor must have exactly one ref"
    assert error_of({**body, "refs": [{"post": "a"}, {"post": "b"}]}) == "Cursor must have exactly one ref"
    validate_post({**body, "refs": [{"post": "a"}]})


def test_favorite_needs_a_ref() -> None:
    body = {
        "type": "https://tent.io/types/favorite/v0#https://tent.io/types/status/v0#",
        "content": {"note": "nice"},
    }
    assert error_of(body) == "Favorite must have at least one ref"
    validate_post({**body, "refs": [{"post": "a"}, {"post": "b"}]})


def test_album_cover_must_be_among_the_refs() -> None:
    body = {
        "type": "https://tent.io/types/album/v0#",
        "content": {"title": "Trip", "cover": {"post": "c"}},
        "refs": [{"post": "a"}],
    }
    assert error_of(body) == "Album cover must be among the refs"
    validate_post({**body, "refs": [{"post": "a"}, {"post": "c"}]})
    validate_post({"type": "https://tent.io/types/album/v0#", "content": {"title": "Empty"}})


def test_status_reply_without_a_mentioned_post_is_accepted() -> None:
    """Seed 003: replies *should* mention and ref the post(s) they reply to."""
    body = {
        "type": "https://tent.io/types/status/v0#reply",
        "content": {"text": "re"},
        "mentions": [{"entity": ENTITY}],
    }
    validate_post(body)
    validate_post({**body, "mentions": []})
    validate_post(
        {**body, "mentions": [{"entity": ENTITY, "post": "p"}], "refs": [{"entity": ENTITY, "post": "p"}]}
    )


def test_type_rules_do_not_apply_to_other_bases() -> None:
    validate_post({"type": "https://example.org/types/repost/v0#"})
    validate_post({"type": "https://example.org/types/subscription/v0#"})


# --- one valid post per known type ---------------------------------------------------------------

VALID_POSTS: dict[str, dict[str, Any]] = {
    "meta": {
        "type": META,
        "content": {
            "entity": ENTITY,
            "previous_entities": ["https://old.example.com"],
            "profile": {"name": "Alice", "bio": "b", "location": "l", "website": "https://alice.example.org"},
            "servers": [{"version": "0.3", "preference": 0, "urls": meta_urls()}],
        },
    },
    "credentials": {
        "type": "https://tent.io/types/credentials/v0#https://tent.io/types/app/v0",
        "content": {"hawk_key": "k", "hawk_algorithm": "sha256"},
        "mentions": [{"post": "app1", "type": "https://tent.io/types/app/v0#"}],
    },
    "relationship": {
        "type": "https://tent.io/types/relationship/v0#initial",
        "mentions": [{"entity": "https://bob.example.com"}],
    },
    "subscription": {
        "type": "https://tent.io/types/subscription/v0#https://tent.io/types/status/v0",
        "content": {"type": "https://tent.io/types/status/v0#"},
        "mentions": [{"entity": "https://bob.example.com"}],
        "permissions": {"public": False, "entities": ["https://bob.example.com"]},
    },
    "delivery-failure": {
        "type": "https://tent.io/types/delivery-failure/v0#https://tent.io/types/status/v0",
        "content": {"entity": "https://bob.example.com", "status": "temporary", "reason": "unreachable"},
        "refs": [{"entity": ENTITY, "post": "p", "version": "v", "type": STATUS}],
        "mentions": [{"entity": ENTITY, "post": "p", "version": "v", "type": STATUS}],
    },
    "delete": {"type": "https://tent.io/types/delete/v0#", "refs": [{"post": "p"}]},
    "app": {
        "type": "https://tent.io/types/app/v0#",
        "content": {
            "name": "App",
            "description": "d",
            "url": "https://app.example.com",
            "redirect_uri": "https://app.example.com/cb",
            "notification_url": "https://app.example.com/notify",
            "notification_types": ["all"],
            "types": {"read": ["all"], "write": [STATUS]},
            "scopes": ["import", "permissions"],
        },
    },
    "app-auth": {
        "type": "https://tent.io/types/app-auth/v0#",
        "content": {"types": {"read": ["all"], "write": []}, "scopes": []},
        "mentions": [{"post": "app1", "type": "https://tent.io/types/app/v0#"}],
    },
    "group": {"type": "https://tent.io/types/group/v0#", "content": {"name": "friends", "description": "d"}},
    "group-member": {
        "type": "https://tent.io/types/group-member/v0#",
        "content": {"entity": "https://bob.example.com"},
        "mentions": [{"post": "group1"}],
    },
    "status": {"type": STATUS, "content": {"text": "hi", "location": {"latitude": "1", "longitude": "2"}}},
    "repost": {
        "type": REPOST,
        "refs": [{"entity": "https://bob.example.com", "post": "p"}],
        "mentions": [{"entity": "https://bob.example.com", "post": "p"}],
    },
    "photo": {"type": "https://tent.io/types/photo/v0#", "content": {"caption": "c"}},
    "album": {
        "type": "https://tent.io/types/album/v0#",
        "content": {
            "title": "t",
            "description": "d",
            "cover": {"post": "p", "entity": ENTITY, "version": "v"},
        },
        "refs": [{"post": "p"}],
    },
    "essay": {
        "type": "https://tent.io/types/essay/v0#",
        "content": {"body": "<p>hi</p>", "title": "T", "excerpt": "<p>h</p>"},
    },
    "cursor": {
        "type": "https://tent.io/types/cursor/v0#https://cursors.example.com/feed",
        "refs": [{"post": "p", "entity": ENTITY}],
    },
    "tag": {"type": "https://tent.io/types/tag/v0#", "content": {"name": "tent"}},
    "favorite": {
        "type": "https://tent.io/types/favorite/v0#https://tent.io/types/status/v0#",
        "content": {"note": "n"},
        "refs": [{"post": "p"}],
    },
}


@pytest.mark.parametrize("name", sorted(VALID_POSTS))
def test_valid_post_of_each_known_type_is_accepted(name: str) -> None:
    body = VALID_POSTS[name]
    post, post_type = validate_post(copy.deepcopy(body))
    assert post == body
    assert post_type.name == name


def test_recorded_example_posts_are_all_present() -> None:
    """The vectors are recorded facts kept in tests/data: losing them must fail, not skip."""
    assert len(example_posts()) == 18


@pytest.mark.parametrize(
    ("source", "post"),
    [pytest.param(s, p, id=s) for s, p in example_posts() if p["type"] != META],
)
def test_recorded_example_post_validates(source: str, post: dict[str, Any]) -> None:
    assert validate_post(post)[0] == post


def test_recorded_meta_example_only_lacks_the_discover_url() -> None:
    """The recorded server predates the `discover` key; the schema (D-04) requires it."""
    (meta,) = [p for _, p in example_posts() if p["type"] == META]
    assert diff_of(meta) == [
        {
            "op": "add",
            "path": "/content/servers/0/urls/discover",
            "value": "",
            "type": "string",
            "message": "expected type string, got null",
        }
    ]
    fixed = copy.deepcopy(meta)
    fixed["content"]["servers"][0]["urls"]["discover"] = (
        "http://bb216a47d970.alpha.attic.is/discover?entity={entity}"
    )
    assert validate_post(fixed)[0] == fixed
