"""The antq tips service."""
