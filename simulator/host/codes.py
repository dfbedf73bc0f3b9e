"""Response codes (field 39) the simulated acquirer answers with; docs/simulator.md lists the same table."""

APPROVED = "00"
DO_NOT_HONOUR = "05"
INVALID_TRANSACTION = "12"  # void/refund of something that cannot be voided/refunded now
INVALID_AMOUNT = "13"  # refund above what is still refundable, zero amount
UNKNOWN_CARD = "14"
ORIGINAL_NOT_FOUND = "25"
FORMAT_ERROR = "30"
SUSPECTED_FRAUD = "34"  # the chip's ARQC does not verify (or its amount is not field 4's)
NOT_SUPPORTED = "40"
LOST_CARD = "41"
STOLEN_CARD = "43"
INSUFFICIENT_FUNDS = "51"
EXPIRED_CARD = "54"
INCORRECT_PIN = "55"
PIN_TRIES_EXCEEDED = "75"
RESTRICTED_CARD = "62"
ORIGINAL_AMOUNT_WRONG = "64"  # a void whose amount is not the original's
SIGN_ON_AGAIN = "77"  # a MAC'd request from a terminal that has no working keys
DUPLICATE_TRANSMISSION = "94"  # STAN already used in this batch
SYSTEM_MALFUNCTION = "96"  # the `advices_refused` fault: the advice was not processed
MAC_ERROR = "A0"

#: test-card behaviours (simulator/data/cards.toml) → the decline they cause
BEHAVIOUR_CODES = {
    "do-not-honour": DO_NOT_HONOUR,
    "lost": LOST_CARD,
    "stolen": STOLEN_CARD,
    "restricted": RESTRICTED_CARD,
}

MEANINGS = {
    APPROVED: "approved", DO_NOT_HONOUR: "do not honour", INVALID_TRANSACTION: "invalid transaction",
    INVALID_AMOUNT: "invalid amount", UNKNOWN_CARD: "unknown card", ORIGINAL_NOT_FOUND: "original not found",
    FORMAT_ERROR: "format error", SUSPECTED_FRAUD: "chip cryptogram failed", NOT_SUPPORTED: "not supported",
    LOST_CARD: "lost card", STOLEN_CARD: "stolen card", INSUFFICIENT_FUNDS: "insufficient funds",
    EXPIRED_CARD: "expired card", INCORRECT_PIN: "incorrect PIN", PIN_TRIES_EXCEEDED: "PIN tries exceeded",
    RESTRICTED_CARD: "restricted card",
    ORIGINAL_AMOUNT_WRONG: "amount differs from the original", SIGN_ON_AGAIN: "sign on again",
    DUPLICATE_TRANSMISSION: "duplicate STAN in this batch", SYSTEM_MALFUNCTION: "system malfunction (not processed)",
    MAC_ERROR: "MAC error",
}
