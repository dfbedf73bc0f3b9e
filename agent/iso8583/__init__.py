"""ISO 8583: declarative message codecs (construct), dialects as data, MACs and keys."""
