"""Audit trail: LangExtract operations and every write or auth event in the catalog."""
