"""Local-only helpers: the ingest HTTP adapter, the traffic generator, demo orchestration."""
