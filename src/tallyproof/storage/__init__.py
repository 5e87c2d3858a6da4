"""Persistence: SQLAlchemy Core over one SQLite file per election."""
