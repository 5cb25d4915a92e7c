"""Parts the tests run for real: a small OIDC provider."""
