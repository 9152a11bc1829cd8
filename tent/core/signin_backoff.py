"""How long one client address must wait after failed owner sign-ins (pure policy, D-69).

The limit is per address, never for the whole server: one attacker guessing passphrases
must not lock the owner out from everywhere else. The first few failures cost nothing (a
typo); after that each failure doubles the wait, up to an hour; an address that has not
failed for a day starts afresh.
"""

from __future__ import annotations

FREE_FAILURES = 5
FIRST_LOCK_MS = 30_000
MAX_LOCK_MS = 3_600_000
FORGET_AFTER_MS = 24 * 3_600_000


def lock_ms(failures: int) -> int:
    """The wait after the `failures`-th failure in a row (0: may try again at once)."""
    if failures < FREE_FAILURES:
        return 0
    return min(FIRST_LOCK_MS * 2 ** min(failures - FREE_FAILURES, 20), MAX_LOCK_MS)
