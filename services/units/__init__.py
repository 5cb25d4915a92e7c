"""The antq units service."""
