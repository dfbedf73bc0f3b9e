"""posoffice — the merchant's back office: every terminal's journal events, kept and checked in PostgreSQL.

A terminal's shipper (`agent/office/shipper.py`) posts its hash-chained journal events to the collector
(`posoffice serve`); the collector re-hashes each one with the journal's own functions
(`agent/journal/hashchain.py`) and links it to the last event it holds for that terminal, so a gap, a
fork or an altered event is refused and recorded, never merged.  The `posoffice` CLI lists terminals,
re-walks the stored chains and sums a day's sales per terminal.

Layout: `wire` (the request format and its limits), `chain` (the sans-IO check of a batch against a
terminal's cursor), `db` (connections, pool, migrations), `store` (the collector's and the CLI's SQL), `rewalk`
(`verify`: the stored chains re-walked), `report` (transactions and a day's totals from transaction events),
`reconcile` / `reconcile_run` / `claims` (a merchant's statement), `duplicates` (one charge on two tills),
`refunds` (what a sale still has to refund across tills), `overview` (what the web pages derive: open fixes,
reversals left to a person, open batch totals, settled days), `lookups` (the SQL the pages read with), `access`
(users, roles, sessions, lockout), `collector` (the HTTP app), `web` (the pages served beside it), `cli`.
"""

__version__ = "0.1.0"
