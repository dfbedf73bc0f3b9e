-- The keys the office finds transactions by, now that the journal's events carry them: a sale by its
-- RRN (on txn.complete), and the voids and refunds that name an original (on txn.begin: by journal id on
-- the same terminal, or by RRN when it was keyed at another till).

CREATE INDEX events_rrn ON events ((details->>'rrn')) WHERE kind = 'txn.complete';
CREATE INDEX events_original ON events (terminal, ((details->>'original')))
    WHERE kind = 'txn.begin' AND details ? 'original';
CREATE INDEX events_original_rrn ON events ((details->>'original_rrn'))
    WHERE kind = 'txn.begin' AND details ? 'original_rrn';
