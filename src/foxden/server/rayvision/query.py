"""The SDK's query endpoints (to be written)."""
