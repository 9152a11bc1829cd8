"""The numbers an operator watches, read from the database when /metrics is scraped.

Each is one query over a small index (pending and given-up deliveries have partial indexes;
`hawk_nonces` holds only the last few minutes of nonces), so a scrape every few seconds
costs the database next to nothing however large the post and delivery tables grow."""

from __future__ import annotations

from dataclasses import dataclass

from tent.store.pool import Pool


@dataclass(frozen=True, slots=True)
class DeliverySummary:
    pending: int  # waiting for a first try or a retry
    in_flight: int  # leased by a worker that is sending it now
    failed: int  # pending, but its last attempt failed
    given_up: int  # failed for good
    oldest_pending_ms: int | None  # created_at of the oldest unfinished delivery


class MonitoringStore:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def deliveries(self, now: int) -> DeliverySummary:
        row = await self.pool.fetchrow(
            "SELECT"
            " count(*) FILTER (WHERE NOT (claimed_at IS NOT NULL AND next_attempt_at > $1)) AS pending,"
            " count(*) FILTER (WHERE claimed_at IS NOT NULL AND next_attempt_at > $1) AS in_flight,"
            " count(*) FILTER (WHERE last_error IS NOT NULL"
            "   AND NOT (claimed_at IS NOT NULL AND next_attempt_at > $1)) AS failed,"
            " min(created_at) AS oldest,"
            " (SELECT count(*) FROM deliveries WHERE state = 'failed') AS given_up"
            " FROM deliveries WHERE state = 'pending'",
            now,
        )
        return DeliverySummary(
            row["pending"], row["in_flight"], row["failed"], row["given_up"], row["oldest"]
        )

    async def nonces(self) -> int:
        return await self.pool.fetchval("SELECT count(*) FROM hawk_nonces")
