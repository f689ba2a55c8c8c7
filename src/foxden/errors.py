"""The one exception family of foxden; each class's docstring is its default message."""

from __future__ import annotations

QUOTE_LIMIT = 100  # characters of a rejected value an error message repeats
MESSAGE_LIMIT = 1000  # characters of any error message (a last guard against echoing input)


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """`repr(value)` for an error message, cut to about `limit` characters."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def cut(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """`text`, cut to about `limit` characters."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... (message cut, {len(text) - limit} more characters)"


class FoxdenError(Exception):
    """Something went wrong in foxden."""

    status_code = 500
    code = "error"

    def __init__(self, message: str | None = None) -> None:
        self.message = cut(message or (self.__doc__ or self.code).strip())
        super().__init__(self.message)


class BadRequest(FoxdenError):
    """The request is malformed."""

    status_code = 400
    code = "bad_request"


class Unauthorized(FoxdenError):
    """Missing or wrong access key: send 'Authorization: Bearer <access key>'."""

    status_code = 401
    code = "unauthorized"


class Forbidden(FoxdenError):
    """This account may not do that."""

    status_code = 403
    code = "forbidden"


class NotFound(FoxdenError):
    """No such thing in this account."""

    status_code = 404
    code = "not_found"


class Conflict(FoxdenError):
    """The request conflicts with the current state."""

    status_code = 409
    code = "conflict"


class Unprocessable(FoxdenError):
    """The request names something it may not use."""

    status_code = 422
    code = "unprocessable"


class LeaseLost(FoxdenError):
    """The lease is gone (expired, stopped or taken back): drop the work and ask for more."""

    status_code = 410
    code = "lease_lost"


class TransferError(FoxdenError):
    """A file transfer failed."""

    status_code = 422
    code = "transfer_error"


class WaitTimeout(FoxdenError):
    """The task did not finish in the time given: it goes on rendering; wait again later."""

    status_code = 504
    code = "wait_timeout"


class ServerUnavailable(FoxdenError):
    """The farm server could not be reached."""

    status_code = 503
    code = "unavailable"


class UntrustedCertificate(ServerUnavailable):
    """The farm's certificate is not trusted: pass its certificate with --ca-cert FILE."""

    code = "untrusted_certificate"


class PayloadTooLarge(FoxdenError):
    """The request body is too large."""

    status_code = 413
    code = "too_large"


class TooManyRequests(FoxdenError):
    """Too many failed logins: wait a while before trying again."""

    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str | None = None, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


class BlobDamaged(FoxdenError):
    """The farm's stored copy of this file is damaged: it was put aside; upload the file again."""

    status_code = 410
    code = "damaged"


class StorageFull(FoxdenError):
    """The farm's storage is full: ask the farm's administrator to free space, then try again."""

    status_code = 507
    code = "storage_full"
