"""Authentication: bearer credentials (static tokens, API keys, JWTs) -> a Principal."""
