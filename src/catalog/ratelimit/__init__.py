"""Rate limiting: token buckets in process or in Redis, client identity, the ASGI middleware."""
