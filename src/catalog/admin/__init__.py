"""admin: the admin-only routes that belong to no other package (API keys: catalog.apikeys)."""
