"""The web: the FastAPI server (the log's write and read API, the review pages) and the HTTP client that
machines and mirrors use."""
