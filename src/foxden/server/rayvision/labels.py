"""The SDK's labels endpoints (to be written)."""
