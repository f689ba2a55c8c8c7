"""foxden's version (the one `pyproject.toml` gives), importable without the package's lazy
exports."""

__version__ = "0.1.0"
