"""A power-cut filesystem for tests: unsynced writes live in its own memory until fsync, and a cut drops
them (`fs`), run as its own process (`server`) and steered from tests and the chaos campaign (`mount`)."""
