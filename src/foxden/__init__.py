"""foxden: a self-hostable render farm with a Renderbus-compatible Python API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from foxden.version import __version__

__all__ = ["Client", "Fox", "FoxdenError", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from foxden.client.api import Client
    from foxden.client.fox import Fox
    from foxden.errors import FoxdenError


def __getattr__(name: str) -> Any:
    # Lazy imports keep `import foxden` cheap for the server and the worker.
    if name == "Fox":
        from foxden.client.fox import Fox

        return Fox
    if name == "Client":
        from foxden.client.api import Client

        return Client
    if name == "FoxdenError":
        from foxden.errors import FoxdenError

        return FoxdenError
    raise AttributeError(name)
