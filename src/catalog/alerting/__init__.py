"""The service watching itself: alert rules over its own traffic, delivered to people."""
