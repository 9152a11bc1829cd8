"""When to try a failed delivery again, and when to stop (decision D-44). Pure functions of
the attempt count, the clock and a random source, so the policy is tested directly."""

from __future__ import annotations

import random
from dataclasses import dataclass
from http import HTTPStatus

MAX_DELAY = 6 * 3600.0
JITTER = (0.8, 1.4)
RETRYABLE_4XX = frozenset({401, 408, 429})


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt ended: `reason` is the delivery-failure vocabulary of §7.9."""

    ok: bool
    reason: str | None = None  # unreachable, discovery_failed, relationship_failed, delivery_failed
    permanent: bool = False  # no point in trying again (a 4xx that cannot heal)
    retry_after: float | None = None
    detail: str = ""


def describe_status(status: int) -> str:
    """`HTTP 503 Service Unavailable`: the code for searching, the phrase for reading."""
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def classify_status(status: int, retry_after: float | None = None) -> Outcome:
    """Any 2xx delivers (D-41); above 500 is unreachable (§7.9); 4xx other than 401/408/429
    will not heal by waiting."""
    if 200 <= status < 300:
        return Outcome(True)
    if status > 500:
        return Outcome(False, "unreachable", retry_after=retry_after, detail=describe_status(status))
    if 400 <= status < 500 and status not in RETRYABLE_4XX:
        return Outcome(False, "delivery_failed", permanent=True, detail=describe_status(status))
    return Outcome(False, "delivery_failed", retry_after=retry_after, detail=describe_status(status))


def next_delay(
    attempts: int, base: float, *, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """Seconds before try number `attempts + 1`: base doubling per failure, ×0.8–1.4 jitter,
    at most six hours; a server's Retry-After wins when it asks for longer."""
    rng = rng or random.Random()
    delay = min(base * (2 ** max(attempts - 1, 0)), MAX_DELAY) * rng.uniform(*JITTER)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, MAX_DELAY)


def gives_up(created_at_ms: int, now_ms: int, give_up_after: float, next_delay_s: float) -> bool:
    """Stop once the next try would fall after the give-up horizon."""
    return now_ms + next_delay_s * 1000 > created_at_ms + give_up_after * 1000


def parse_retry_after(value: str | None, now_s: float) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        return max(parsedate_to_datetime(value).timestamp() - now_s, 0.0)
    except (TypeError, ValueError):
        return None
