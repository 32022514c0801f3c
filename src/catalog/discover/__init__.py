"""Discovery: search, suggestions, search history, marketplace."""
