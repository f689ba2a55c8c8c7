"""The SDK's transfer endpoints (to be written)."""
