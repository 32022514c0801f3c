"""Tests of catalog.ingest: reflection of real PostgreSQL and SQLite databases."""
