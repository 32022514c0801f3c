"""Data products: CRUD and lifecycle, versions, member data elements, lineage."""
