"""Cross-cutting production layer: each piece a pure ASGI middleware or a small module."""
