-- A delivery that no longer matters (its recipient unsubscribed, or the relationship was
-- removed) is cancelled: never tried again, never reported as a failure.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check
    CHECK (state IN ('pending', 'delivered', 'failed', 'cancelled'));
