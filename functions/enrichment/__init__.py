"""Enrichment of raw events: pure functions the ETL applies to each event, one module per job.

- ``user_agent``: device type, browser family and major version, OS family (ua-parser).
- ``bots``: bot or not, and why (the maintained crawler list, the parser's Spider family).
- ``geo``: country of the anonymised network address (a MaxMind-format database).
- ``urls``: campaign parameters, click id, referrer host, landing path; the stored form of a URL.

The channel a session's acquisition belongs to is decided in the warehouse, from rules kept as
data (migration 006). Raw objects stay as ingested, so a rule change can be replayed.
Nothing is imported here, so ingest can use ``bots`` without the ETL's dependencies.
"""
