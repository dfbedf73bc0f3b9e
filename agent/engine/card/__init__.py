"""The card family: a payment made with a card read at the terminal (chip, swipe, or keyed by a supervisor).

`sale` charges the card; `offline` journals a sale the chip approved without the bank; `store_forward` stores a
sale while the bank cannot be reached, within the merchant's limits.  Void and refund are the same messages for
every family's purchase and live in the shared part (`agent.engine.purchases`), as do the fixes
(`agent.engine.fixes`), whose steps call this family's sale.
"""
