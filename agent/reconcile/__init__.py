"""Settlement statement reconciliation: what the acquirer credited, line by line, against the journal.

`formats` declares how acquirers write statements; `statement` parses and writes them from those
declarations; `fees` is the contracted fee rule; `reconciler` is the sans-IO comparison; `claim`
renders the claim letter for the bank.
"""
