"""Versioned rule data of the tips service (categories, legal deadlines, attachment limits, triage tuning)."""
