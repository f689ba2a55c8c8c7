"""The SDK's operate endpoints (to be written)."""
