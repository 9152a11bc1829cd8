-- /metrics counts the deliveries that failed for good at every scrape: a partial index keeps
-- that count to the failed rows, however many delivered rows the table holds.
CREATE INDEX deliveries_given_up ON deliveries (id) WHERE state = 'failed';
