"""Thin Discord glue: each cog parses, checks, calls a service and renders."""
