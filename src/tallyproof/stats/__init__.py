"""Statistics over published tallies: risk-limiting audits, seeded sampling, estimates and forensics."""
