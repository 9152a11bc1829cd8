"""Post type URIs and type selectors (`<base>/v<version>#<fragment>`).

A trailing `#` is an *empty* fragment, different from no `#` at all; fragments may be
percent-encoded and are compared decoded. A selector without `#` matches every fragment of
that base and version (decision D-08: base *and* version, as tentd's SQL does).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

_TYPE_RE = re.compile(r"^(.+?)/v(.+?)(#(.*))?$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class PostType:
    base: str  # e.g. https://tent.io/types/status
    version: str  # e.g. 0
    fragment: str | None  # decoded; None when there is no '#', "" for an empty fragment

    @property
    def base_version(self) -> str:
        """The type without fragment: `https://tent.io/types/status/v0`."""
        return f"{self.base}/v{self.version}"

    @property
    def name(self) -> str:
        """Last path segment of the base (`status`), which names the content schema."""
        return self.base.rstrip("/").rsplit("/", 1)[-1]


def base_version(value: object) -> str | None:
    """`value` without its fragment (what selectors and `type_base` compare); None when it is
    not a type URI, so an unparsable type matches no known one."""
    t = parse_type(value)
    return t.base_version if t is not None else None


def parse_type(value: object) -> PostType | None:
    """Parse a type URI; None when it is not one (no scheme/host, or no `/v<n>`)."""
    if not isinstance(value, str) or not value:
        return None
    return _parse_type(value)


@functools.lru_cache(maxsize=1024)
def _parse_type(value: str) -> PostType | None:
    """Remembered: a server sees few types, each in every request that names it."""
    m = _TYPE_RE.match(value)
    if not m:
        return None
    parts = urlsplit(m.group(1))
    if not parts.scheme or not parts.netloc:
        return None
    fragment = m.group(4)
    if m.group(3) is not None and fragment is None:
        fragment = ""
    return PostType(m.group(1), m.group(2), unquote(fragment) if fragment is not None else None)


@dataclass(frozen=True, slots=True)
class TypeSelector:
    """`all`, a base+version (every fragment), or a base+version with one fragment."""

    base_version: str | None  # None means `all`
    fragment: str | None  # None: any fragment

    @classmethod
    def parse(cls, value: str) -> TypeSelector | None:
        if value == "all":
            return cls(None, None)
        t = parse_type(value)
        if t is None:
            return None
        return cls(t.base_version, t.fragment)

    def matches(self, post_type: PostType | str) -> bool:
        if self.base_version is None:
            return True
        t = parse_type(post_type) if isinstance(post_type, str) else post_type
        if t is None or t.base_version != self.base_version:
            return False
        return self.fragment is None or self.fragment == t.fragment


def any_selector_matches(selectors: list[str], post_type: str) -> bool:
    """True if one of the selector strings matches; unparsable selectors match nothing."""
    t = parse_type(post_type)
    if t is None:
        return False
    for raw in selectors:
        sel = TypeSelector.parse(raw)
        if sel is not None and sel.matches(t):
            return True
    return False
