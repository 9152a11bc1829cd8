"""Posts as readers that are not apps see them, serialized once per version (D-98).

A reader that is not an app (anonymous, a peer server, an app without read rights) sees the
same rendering of a version whoever it is (`render_post` looks at nothing else of such a
principal), and every member that rendering shows is covered by the version id, except
whether the post is public, which is part of the key. A version's row is never rewritten, so
its rendering cannot go stale while the row exists; deletes empty the cache anyway (a version
imported unverified could come back with other content under the same id).
"""

from __future__ import annotations

from typing import Any

import orjson

from tent.core.principal import Principal, is_public
from tent.core.render import render_post

# ~1 KB each with its key. Feed pages only: a single post's rendering costs ~1 µs, and 2,048
# views kept for the posts of a thousand single-post reads grew the RSS by 3.7 MB (measured).
VIEWS_KEPT = 512


class Views:
    def __init__(self, kept: int = VIEWS_KEPT) -> None:
        self._kept = kept
        self._views: dict[tuple[str, str, str, bool], orjson.Fragment] = {}

    def of(self, post: dict[str, Any], principal: Principal) -> dict[str, Any] | orjson.Fragment:
        """The post as `principal` sees it, to be embedded in a JSON answer."""
        if principal.app_level:
            return render_post(post, principal)
        key = (post["entity"], post["id"], post["version"]["id"], is_public(post))
        view = self._views.get(key)
        if view is None:
            view = orjson.Fragment(orjson.dumps(render_post(post, principal)))
            if len(self._views) >= self._kept:
                self._views.clear()
            self._views[key] = view
        return view

    def forget(self) -> None:
        self._views.clear()
