"""posagent — the software between a POS terminal's card reader and the acquirer's host."""

__version__ = "0.1.0"
