"""The shapes that travel between foxden's parts: one definition each, imported by the server,
the worker and the client alike. Pydantic (and typing) only: nothing here imports the server."""
