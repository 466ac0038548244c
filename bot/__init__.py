"""Haven: a self-hosted Discord bot for online peer-support recovery communities."""

__version__ = "0.1.0"
