-- The masked ISO 8583 messages of the transactions a terminal's events name, as its journal stored them
-- (scrubbed of card data there, again before they leave the terminal and again here).  One row per
-- terminal, transaction, direction and the journal's message id (0: the transaction's own request and
-- answer; else its row in the journal's `messages`): a message shipped twice is stored once.

CREATE TABLE messages (
    terminal    text NOT NULL REFERENCES terminals (id),
    txn_id      bigint NOT NULL CHECK (txn_id > 0),
    direction   text NOT NULL CHECK (direction IN ('sent', 'received')),
    message_id  bigint NOT NULL CHECK (message_id >= 0),
    at          double precision NOT NULL,              -- when the journal stored it (seconds since 1970)
    reversal_id bigint,                                 -- the reversal it belongs to, if any
    body        jsonb NOT NULL,                         -- the masked message
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (terminal, txn_id, direction, message_id)
);
