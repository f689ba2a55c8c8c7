"""Request dependencies: the farm, the calling account, the calling worker."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from foxden.errors import Forbidden, Unauthorized
from foxden.farm import accounts, workers
from foxden.farm.accounts import Account
from foxden.farm.scheduler import WorkerInfo
from foxden.server.context import Farm
from foxden.server.credentials import bearer
from foxden.server.logins import client_address


def get_farm(request: Request) -> Farm:
    """The farm this app serves."""
    farm: Farm = request.app.state.farm
    return farm


def current_account(request: Request, farm: Annotated[Farm, Depends(get_farm)]) -> Account:
    """The account whose access key is the bearer token (or whose web session is open)."""
    session_account = getattr(request.state, "account", None)
    if isinstance(session_account, Account):
        return session_account
    key = bearer(request)
    address = client_address(request)
    farm.logins.check(address)
    try:
        with farm.db.read() as conn:
            return accounts.authenticate(conn, key)
    except Unauthorized:
        if key is not None:
            farm.logins.failed(address)  # a wrong key: counted against the address
        raise


def current_admin(account: Annotated[Account, Depends(current_account)]) -> Account:
    """The calling account, which must be an admin."""
    if not account.is_admin:
        raise Forbidden("only an administrator account can do this")
    return account


def current_worker(request: Request, farm: Annotated[Farm, Depends(get_farm)]) -> WorkerInfo:
    """The worker whose token is the bearer token."""
    return workers.authenticate(farm.db, bearer(request), farm.tokens)


FarmDep = Annotated[Farm, Depends(get_farm)]
AccountDep = Annotated[Account, Depends(current_account)]
AdminDep = Annotated[Account, Depends(current_admin)]
WorkerDep = Annotated[WorkerInfo, Depends(current_worker)]
