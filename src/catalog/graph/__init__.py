"""The relationship graph (elements, products, tags, lineage) and its projections."""
