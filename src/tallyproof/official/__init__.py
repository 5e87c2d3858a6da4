"""The official side: the append-only log of signed tally sheets (RFC 9162 Merkle tree), its signed
checkpoints, the bulletins derived from published sheets only, and the checks anyone runs on a copy of
the log (:mod:`~tallyproof.official.verify`, :mod:`~tallyproof.official.mirror`)."""
