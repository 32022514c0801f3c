"""Tests of catalog.openlineage."""
