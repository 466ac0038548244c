"""Frozen dataclasses and enums, with no I/O: a leaf every layer may import."""
