"""The SDK's submit endpoints (to be written)."""
