"""A personal Tent v0.3 server."""

__version__ = "0.1.0"
SERVER_NAME = "tent-python"
