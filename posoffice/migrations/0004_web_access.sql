-- The office's web pages: the people who may read them (users with one role each), their sessions, and the
-- claim documents a reconciliation run made on the page (kept with the run, so they download later).

CREATE TABLE users (
    name          text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$'),
    role          text NOT NULL CHECK (role IN ('manager', 'finance', 'admin')),
    -- scrypt$N$r$p$salt$hash, as agent.auth.hash_password writes it (the terminal's supervisor passwords)
    password_hash text NOT NULL,
    failures      integer NOT NULL DEFAULT 0,  -- wrong passwords since the last right one
    locked_until  timestamptz,                 -- no login before this time (after too many failures)
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    token_sha256 text PRIMARY KEY,            -- the cookie's token is never stored, only its SHA-256
    user_name    text NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    csrf         text NOT NULL,               -- the token every form of this session carries
    created_at   timestamptz NOT NULL DEFAULT now(),
    seen_at      timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL          -- absolute end; an idle session ends earlier (see access.py)
);
CREATE INDEX sessions_user ON sessions (user_name);

CREATE TABLE claim_documents (
    run_id  bigint NOT NULL REFERENCES reconciliations (id),
    name    text NOT NULL,
    content bytea NOT NULL,
    PRIMARY KEY (run_id, name)
);

-- What the Today page reads without walking every event: each terminal's settlements (the last says which batch
-- is open), its transactions by batch, and the transactions begun since a time.
CREATE INDEX events_settlements ON events (terminal, seq) WHERE kind = 'settlement.finish';
CREATE INDEX events_begun_batch ON events (terminal, (details->'batch')) WHERE kind = 'txn.begin';
CREATE INDEX events_begun_at ON events (terminal, at) WHERE kind = 'txn.begin';
-- the events Today's alerts come from (posoffice/overview.py ALERT_KINDS): few, read on every change
CREATE INDEX events_alerts ON events (terminal, seq) WHERE kind IN ('chain.plan', 'chain.step', 'chain.done',
    'chain.closed', 'reversal.failed', 'reversal.done', 'reversal.handled');
