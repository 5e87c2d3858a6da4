"""The append-only, tamper-evident log of published tally sheets (RFC 9162 Merkle trees)."""
