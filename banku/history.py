"""Time travel with pandas (filled in below)."""
