-- Retention: a terminal's oldest events, once their batches are settled and reconciled, may be removed
-- (`posoffice retention`).  Only a prefix of a chain is ever removed, and the last event removed stays as
-- the chain's anchor: the first event kept links to its hash, so `posoffice verify` and the collector's
-- checks go on from there.  Each run that removed something is kept.

CREATE TABLE chain_anchors (
    terminal     text PRIMARY KEY REFERENCES terminals (id),
    seq          bigint NOT NULL CHECK (seq > 0),      -- the last event removed
    content_hash text NOT NULL,
    hash         text NOT NULL,                        -- its chain hash: event seq + 1 links to it
    removed_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE retention_runs (
    id         bigserial PRIMARY KEY,
    run_at     timestamptz NOT NULL DEFAULT now(),
    days       integer NOT NULL CHECK (days >= 0),
    cutoff     timestamptz NOT NULL,                   -- events made before it could go
    removed    bigint NOT NULL,                        -- events removed, all terminals
    detail     jsonb NOT NULL                          -- per terminal: the seqs removed and why it stopped there
);
