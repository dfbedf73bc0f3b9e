-- Each statement reconciliation the office ran: the statement (name, SHA-256, format), the merchant and
-- settlement date it was for, the totals and every finding; a statement that could not be read is kept
-- as refused, with the reason.

CREATE TABLE reconciliations (
    id               bigserial PRIMARY KEY,
    run_at           timestamptz NOT NULL DEFAULT now(),
    statement        text NOT NULL,
    statement_sha256 text,                          -- NULL: the file was refused before it was read
    format           text NOT NULL,
    status           text NOT NULL CHECK (status IN ('balanced', 'differs', 'refused')),
    merchant_id      text,
    settlement_date  date,
    owed             bigint,                        -- minor units: the journals and the fee contract
    credited         bigint,                        -- the statement's credit
    difference       bigint,
    unexplained      bigint,
    findings         integer NOT NULL DEFAULT 0,
    report           jsonb,                         -- the whole report, as `posoffice reconcile --json` prints it
    error            text,                          -- why a refused statement was refused
    CHECK ((status = 'refused') = (error IS NOT NULL))
);
CREATE INDEX reconciliations_day ON reconciliations (merchant_id, settlement_date);
