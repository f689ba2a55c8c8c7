"""Trusting a farm's HTTPS certificate, on the client and the render node (no server packages).

`verify` is what `Client(verify=)`, `Fox(verify=)`, `--ca-cert` and FOXDEN_CA_CERT give: True
(the system's trusted authorities), False (no check: never on an untrusted network), or the path
of a CA bundle or of the farm's own certificate (`foxden up --tls` prints its path).
"""

from __future__ import annotations

import os
import re
import ssl

from foxden.errors import UntrustedCertificate

Verify = bool | str | os.PathLike[str] | ssl.SSLContext

HINT = (
    "pass its certificate with --ca-cert FILE (or FOXDEN_CA_CERT, or verify=FILE in Python); "
    "foxden up --tls printed its path"
)


def ssl_verify(verify: Verify | None) -> ssl.SSLContext | bool:
    """What httpx's `verify=` takes for `verify` (a CA file becomes an SSL context)."""
    if verify is None or isinstance(verify, bool | ssl.SSLContext):
        return True if verify is None else verify
    path = os.fspath(verify)
    if not os.path.isfile(path):
        raise UntrustedCertificate(f"CA certificate {path!r} does not exist or is not a file")
    try:
        return ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise UntrustedCertificate(f"CA certificate {path!r} cannot be read: {exc}") from None


def untrusted_certificate(exc: BaseException) -> str:
    """The reason when `exc` (an httpx error or its cause) is a failed certificate check, else ''."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return str(current.verify_message or current.reason or current)
        if "CERTIFICATE_VERIFY_FAILED" in str(current):
            text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", str(current))
            return text.split("certificate verify failed:", 1)[-1].strip() or text
        current = current.__cause__ or current.__context__
    return ""


def untrusted_error(server: str, reason: str, what: str = "") -> UntrustedCertificate:
    """The clear error for a farm whose certificate failed the check (during `what`)."""
    return UntrustedCertificate(
        f"{what + ': ' if what else ''}the farm's certificate is not trusted "
        f"({server + ': ' if server else ''}{reason}): {HINT}"
    )
