"""A stored delivery error (`"<reason>: <detail>"`, reason from the §7.9 vocabulary, the
detail already in words: see `tent.delivery.explain`) as one sentence for the owner."""

from __future__ import annotations

import re

_LEADS = {
    "unreachable": "Could not reach their server",
    "discovery_failed": "Could not find a Tent server for this entity",
    "relationship_failed": "Could not set up a relationship with their server",
    "delivery_failed": "Their server did not accept it",
}
GAVE_UP = "gave_up"
_REPR = re.compile(r"\b\w+(Error|Exception)\(")


def delivery_error_in_words(error: str | None) -> str:
    if not error:
        return "Not tried yet."
    reason, sep, detail = error.partition(": ")
    if reason == GAVE_UP:
        return "You gave up on this delivery."
    if not sep or reason not in _LEADS:
        reason, detail = "", error
    if _REPR.search(detail):  # recorded by an older version, before errors were put in words
        detail = "the connection failed"
    detail = detail.strip().rstrip(".") or "no reason was given"
    return f"{_LEADS.get(reason, 'It failed')}: {detail}."
