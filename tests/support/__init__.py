"""Test support: real servers, fault injection, helpers."""
