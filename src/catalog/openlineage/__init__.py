"""OpenLineage events: validation against the vendored spec and their parsed form (spec.py)."""
