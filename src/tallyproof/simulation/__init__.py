"""Seeded synthetic elections for demos, benchmarks and tests: tables and their sheets, signing machines,
tampering scenarios, paper receipts and cast vote records, and rendered acta photos."""
