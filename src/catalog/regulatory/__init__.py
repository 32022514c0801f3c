"""regulatory domain."""
