"""The SDK's software endpoints (to be written)."""
