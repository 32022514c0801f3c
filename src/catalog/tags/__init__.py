"""tags domain."""
