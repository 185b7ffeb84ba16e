"""Lambda Ingest: POST /clickstream -> validated, enriched JSON Lines in the raw bucket.

The entry point is ``functions.ingest.handler.handler``; the modules beside it are plain
functions (request parsing, body decoding, validation, enrichment, the bucket write) so each
can be tested and benchmarked on its own. Nothing is imported here, to keep cold starts lean.
"""
