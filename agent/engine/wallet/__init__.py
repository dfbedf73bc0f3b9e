"""The payment-code family (a wallet's code scanned at the till): the sale and its paying state (`plans`), its
messages and settings (`messages`), and the fix of a wrong amount without the code (`fixes`)."""
