"""ISO/IEC 11179 registry: data element concepts, value domains, representations, elements."""
