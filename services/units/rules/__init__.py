"""Versioned rule data of the units service (scope, criteria frameworks, overlays, incident categories)."""
