"""The antq notify service."""
