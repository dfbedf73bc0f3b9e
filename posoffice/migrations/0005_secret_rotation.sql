-- A terminal's secret rotated without losing its events: the secret before the newest stays accepted until
-- the terminal first logs in with the new one, or until its grace period ends, whichever comes first.

ALTER TABLE terminals
    ADD COLUMN previous_credential_hash text,      -- scrypt hash of the secret before the newest
    ADD COLUMN previous_valid_until     timestamptz,
    ADD COLUMN rotated_at               timestamptz,
    ADD CHECK ((previous_credential_hash IS NULL) = (previous_valid_until IS NULL));
