"""The central tabulation server (FastAPI): receives signed sheets, publishes the log."""
