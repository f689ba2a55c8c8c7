"""Farm services: the operations the HTTP layer calls, each in one database transaction."""
