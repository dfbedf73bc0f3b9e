-- The office's first schema: terminals and their credentials, every terminal's chained events, the
-- chain problems found on arrival, and each terminal's cursor (the last event the office has verified).

CREATE TABLE terminals (
    id              text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$'),
    merchant_id     text NOT NULL CHECK (merchant_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$'),
    -- scrypt$N$r$p$salt$hash, as agent.auth.hash_password writes it; the secret itself is never stored
    credential_hash text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_contact    timestamptz
);

CREATE TABLE cursors (
    terminal      text PRIMARY KEY REFERENCES terminals (id),
    last_seq      bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    last_hash     text NOT NULL,
    -- the newest event id the terminal said its journal holds (NULL: it never said)
    reported_head bigint,
    updated_at    timestamptz
);

CREATE TABLE events (
    terminal     text NOT NULL REFERENCES terminals (id),
    seq          bigint NOT NULL CHECK (seq > 0),          -- the journal's event id
    at           double precision NOT NULL,
    kind         text NOT NULL,
    txn_id       bigint,
    operator     text,
    role         text,
    details_text text NOT NULL,                            -- the exact text the content hash covers
    details      jsonb NOT NULL,                           -- the same, for queries
    content_hash text NOT NULL,
    hash         text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (terminal, seq)
);
CREATE INDEX events_txn ON events (terminal, txn_id) WHERE txn_id IS NOT NULL;
CREATE INDEX events_outcomes ON events (kind, at) WHERE kind IN ('txn.complete', 'txn.confirmed');

CREATE TABLE chain_problems (
    id          bigserial PRIMARY KEY,
    terminal    text NOT NULL REFERENCES terminals (id),
    seq         bigint NOT NULL,
    what        text NOT NULL CHECK (what IN ('gap', 'fork', 'altered', 'broken_link')),
    detail      text NOT NULL,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    times       integer NOT NULL DEFAULT 1,
    -- a gap is closed when the missing events arrive and link; a fork or an alteration never is
    resolved_at timestamptz,
    UNIQUE (terminal, seq, what)
);
