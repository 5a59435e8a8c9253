"""Retrieval for grounded answers: a corpus of files chunked into passages, indexed for keyword search
(SQLite FTS5 with BM25, or PostgreSQL full-text search) and optionally for dense search (embeddings
from an OpenAI-compatible endpoint), and the activities that index and retrieve."""
