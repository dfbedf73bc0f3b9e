"""The journal: the durable, tamper-evident SQLite record of everything the terminal did."""
