"""Why a delivery or a discovery failed, in words an owner reads: never a Python repr such
as `ClientConnectorError(ConnectionKey(...`. Pure: works on the error text we store."""

from __future__ import annotations

import re
from http import HTTPStatus

_LEADS = {
    "unreachable": "Could not reach their server",
    "discovery_failed": "Could not find a Tent server for this entity",
    "relationship_failed": "Could not set up a relationship with their server",
    "delivery_failed": "Their server did not accept it",
    "gave_up": "You gave up on this delivery",
}

# (pattern in the stored text, what it means); the first match wins.
_CAUSES: tuple[tuple[str, str], ...] = (
    (r"private address", "it is at a private or loopback address, which this server does not contact"),
    (
        r"DNSError|gaierror|Name or service not known|nodename nor servname|getaddrinfo",
        "its host name could not be found",
    ),
    (r"ConnectionRefused|Connect call failed|Cannot connect to host", "the connection was refused"),
    (r"Timeout|timed out", "it did not answer in time"),
    (r"ServerDisconnected|ConnectionReset|Connection reset", "it closed the connection"),
    (r"SSL|certificate|TLS", "the secure (TLS) connection failed"),
    (r"TooManyRedirects|too many redirects", "it redirected too many times"),
    (r"too large", "its answer was too large"),
    (r"no meta post link", "the address has no link to a Tent meta post (is it a Tent entity?)"),
    (r"no valid meta post", "its meta post is not valid"),
    (r"deleted before delivery", "the post was deleted before it could be sent"),
    (r"no longer wants notifications", "the app no longer asks for notifications"),
    (r"may not read this post", "the app may not read this post"),
    (r"no server", "its meta post lists no server"),
)
_HTTP = re.compile(r"HTTP (\d{3})")


def cause_in_words(detail: str) -> str:
    """The cause part of an error, e.g. "the connection was refused"."""
    for pattern, words in _CAUSES:
        if re.search(pattern, detail, re.IGNORECASE):
            return words
    status = _HTTP.search(detail)
    if status:
        code = int(status.group(1))
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "unknown status"
        return f"it answered HTTP {code} ({phrase})"
    if re.search(r"\w+Error\(|\w+Exception\(", detail):
        return "the connection failed"
    return detail.strip().rstrip(".!") or "no reason was given"


def delivery_error_in_words(error: str | None) -> str:
    """A stored `last_error` ("<reason>: <detail>") as one sentence."""
    if not error:
        return "Not tried yet."
    reason, sep, detail = error.partition(": ")
    if not sep or reason not in _LEADS:
        reason, detail = "", error
    lead = _LEADS.get(reason, "It failed")
    if reason == "gave_up":
        return lead + "."
    return f"{lead}: {cause_in_words(detail)}."
