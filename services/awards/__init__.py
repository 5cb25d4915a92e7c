"""The antq awards service."""
