"""The farm server: FastAPI app factory, HTTP API and web pages."""
