"""Reading other databases: what the crawler (`catalog ingest URL`) finds in them."""
