"""Database access: tables, engine set-up and migrations."""
