"""admin domain: API keys (alerts and diagnostics join later)."""
