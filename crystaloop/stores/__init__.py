"""Store-level code: maggma stores for either profile, the embedded database, corpus ingest."""
