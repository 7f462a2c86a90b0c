"""Rendering grades: one module per output format."""
