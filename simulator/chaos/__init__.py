"""The chaos and soak campaign: thousands of cashier operations against the real acquirer simulator
and the real daemon, with host faults at every step and SIGKILLs of the daemon at random moments;
after each run a checker proves the bank's ledger and the journal agree.

Modules: `plan` (the seeded operation mix, faults and kills as data), `stack` (the host and daemon
processes), `runner` (carries a plan out and counts what happened), `checker` (ledger against journal,
traces, batches, hash chain, card-data byte scan), `reduce` (delta-reduction of a failing plan),
`report` (summary table and violation report), `cli` (`posim chaos`).
"""
