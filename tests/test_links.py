"""One parser for discovery links (tent/core/links.py, D-81): `Link` headers and HTML
`<link>` tags, and both discovery clients (the server's and the status client's) finding a
meta post through a space-separated `rel` list on a real loopback entity."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from tent.client.discovery import discover
from tent.core.entities import check_entity
from tent.core.links import Link, header_links, html_links, parse_link_header
from tent.core.media import REL_CREDENTIALS, REL_META_POST
from tent.core.type_uris import META_TYPE
from tent.delivery.client import HttpClient
from tent.delivery.discovery import Discovery


def test_several_links_in_one_header_each_keep_their_rels() -> None:
    header = (
        f'<https://a.example/posts/x>; rel="{REL_META_POST}", '
        f'</rel/meta>; title="m, n; o"; rel="alternate {REL_META_POST}"'
    )
    assert parse_link_header(header) == [
        Link("https://a.example/posts/x", frozenset({REL_META_POST})),
        Link("/rel/meta", frozenset({"alternate", REL_META_POST})),
    ]


def test_a_space_separated_rel_list_matches_each_of_its_rels() -> None:
    header = f'</meta>; rel="alternate {REL_META_POST}"'
    assert header_links([header], REL_META_POST) == ["/meta"]
    assert header_links([header], "alternate") == ["/meta"]
    assert header_links([header], REL_CREDENTIALS) == []


def test_unquoted_and_differently_cased_rels_match() -> None:
    assert header_links([f"</a>; rel={REL_META_POST}"], REL_META_POST) == ["/a"]
    assert header_links([f'</b> ; REL = "{REL_META_POST.upper()}"'], REL_META_POST) == ["/b"]


def test_targets_resolve_against_the_url_that_carried_them_only_when_asked() -> None:
    values = [f'</posts/meta>; rel="{REL_META_POST}"', f'<https://other.example/m>; rel="{REL_META_POST}"']
    assert header_links(values, REL_META_POST) == ["/posts/meta", "https://other.example/m"]
    assert header_links(values, REL_META_POST, "https://a.example/x/") == [
        "https://a.example/posts/meta",
        "https://other.example/m",
    ]


def test_html_link_tags_match_by_rel_list_in_any_case() -> None:
    page = (
        '<html><head><link rel="stylesheet" href="/s.css">'
        f'<LINK href="/meta" REL="{REL_META_POST}" />'
        f"<link href=/second rel='alternate {REL_META_POST}'>"
        f'<link rel="{REL_META_POST}"></head></html>'  # no href: nothing to follow
    )
    assert html_links(page, REL_META_POST) == ["/meta", "/second"]
    assert html_links(page, REL_META_POST, "https://a.example/") == [
        "https://a.example/meta",
        "https://a.example/second",
    ]


def test_broken_html_keeps_the_links_found_before_the_break() -> None:
    assert html_links(f'<link href="/m" rel="{REL_META_POST}"><![if', REL_META_POST) == ["/m"]


@pytest.mark.parametrize(
    "entity", ["https://a.example?x=1", "https://a.example#f", "ftp://a.example", "http://[::1", "a.example"]
)
def test_an_entity_with_a_query_fragment_or_other_scheme_is_refused(entity: str) -> None:
    with pytest.raises(ValueError, match="is not an entity URL"):
        check_entity(entity, exact=False)


def test_a_trailing_slash_is_refused_only_where_entities_must_match_exactly() -> None:
    assert check_entity("https://a.example/", exact=False) == "https://a.example/"
    with pytest.raises(ValueError, match="trailing slash"):
        check_entity("https://a.example/")
    assert check_entity("https://a.example/alice") == "https://a.example/alice"


async def _entity_with_rel_list(aiohttp_server) -> str:
    """An entity whose root links its meta post in a rel list, by header on HEAD only."""
    base: list[str] = []

    async def root(request: web.Request) -> web.Response:
        return web.Response(headers={"Link": f'</meta>; rel="alternate {REL_META_POST}"'})

    async def meta(_: web.Request) -> web.Response:
        entity = base[0]
        servers = [{"version": "0.3", "preference": 0, "urls": {"new_post": entity + "/posts"}}]
        return web.json_response({"post": {"id": "meta", "entity": entity, "type": META_TYPE,
                                           "content": {"entity": entity, "servers": servers}}})

    app = web.Application()
    app.router.add_route("*", "/", root)
    app.router.add_get("/meta", meta)
    server = await aiohttp_server(app)
    base.append(str(server.make_url("/")).rstrip("/"))
    return base[0]


async def test_the_server_discovers_an_entity_that_lists_several_rels(aiohttp_server) -> None:
    entity = await _entity_with_rel_list(aiohttp_server)
    http = HttpClient(allow_private=True)
    try:
        meta = await Discovery(http).meta(entity)
    finally:
        await http.close()
    assert meta["content"]["entity"] == entity


async def test_the_status_client_discovers_an_entity_that_lists_several_rels(aiohttp_server) -> None:
    entity = await _entity_with_rel_list(aiohttp_server)
    async with aiohttp.ClientSession() as http:
        found = await discover(http, entity)
    assert found.entity == entity and found.servers[0]["urls"]["new_post"] == entity + "/posts"
