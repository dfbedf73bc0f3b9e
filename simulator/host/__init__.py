"""The acquirer host simulator: sans-IO processing over its own SQLite ledger, an asyncio server,
fault injection, and the `posim host` command line."""
