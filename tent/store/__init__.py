"""The only layer that speaks SQL."""
