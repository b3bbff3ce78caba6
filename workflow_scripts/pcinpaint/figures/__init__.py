"""Figures, one module per family; each function returns a matplotlib Figure."""
