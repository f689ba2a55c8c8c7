"""The one exception family of foxden; each class's docstring is its default message."""

from __future__ import annotations


class FoxdenError(Exception):
    """Something went wrong in foxden."""

    status_code = 500
    code = "error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or self.code).strip()
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


class LeaseLost(FoxdenError):
    """The lease is gone (expired, stopped or taken back): drop the work and ask for more."""

    status_code = 410
    code = "lease_lost"


class TransferError(FoxdenError):
    """A file transfer failed."""

    status_code = 422
    code = "transfer_error"


class ServerUnavailable(FoxdenError):
    """The farm server could not be reached."""

    status_code = 503
    code = "unavailable"
