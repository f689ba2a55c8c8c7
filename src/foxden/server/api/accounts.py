"""Accounts, the calling user, workers (admins) and the software on offer."""

from __future__ import annotations

from fastapi import APIRouter

from foxden.farm import accounts, rights, sdk_keys, workers
from foxden.server.api.deps import AccountDep, AdminDep, FarmDep
from foxden.server.api.models import AccountChange, AccountCreate, AccountTrust, ProjectRights
from foxden.wire.api import (
    AccessKeyOut,
    AccountCreatedOut,
    AccountOut,
    ProjectRightsOut,
    SdkKeyOut,
    SoftwareOut,
    TrustOut,
    WorkerOut,
)

router = APIRouter(prefix="/api", tags=["accounts"])


@router.get("/me")
def me(farm: FarmDep, account: AccountDep) -> AccountOut:
    """The calling account."""
    return accounts.get_account(farm.db, account.id)


@router.post("/login")
def login(farm: FarmDep, account: AccountDep) -> AccountOut:
    """Check the access key and record the login."""
    accounts.touch_login(farm.db, account)
    return accounts.get_account(farm.db, account.id)


@router.post("/me/key")
def rotate_my_key(farm: FarmDep, account: AccountDep) -> AccessKeyOut:
    """A new access key for the calling account; the old one stops working at once."""
    return AccessKeyOut(account=account.name, access_key=accounts.rotate_key(farm.db, account.name))


@router.post("/me/sdk-key")
def issue_my_sdk_key(farm: FarmDep, account: AccountDep) -> SdkKeyOut:
    """A new access id and key for the vendor's SDK (`rayvision_api`); the old pair stops working
    at once. The key is shown in this reply only."""
    key = sdk_keys.issue(farm.db, farm.sdk_box, account.id)
    return SdkKeyOut(account=account.name, access_id=key.access_id, access_key=key.access_key)


@router.post("/accounts/{name}/sdk-key")
def issue_sdk_key(name: str, farm: FarmDep, _admin: AdminDep) -> SdkKeyOut:
    """A new SDK access id and key for an account (admins)."""
    record = accounts.get_account_by_name(farm.db, name)
    key = sdk_keys.issue(farm.db, farm.sdk_box, record.id)
    return SdkKeyOut(account=record.name, access_id=key.access_id, access_key=key.access_key)


@router.get("/accounts")
def list_accounts(farm: FarmDep, _admin: AdminDep) -> list[AccountOut]:
    """Every account (admins only)."""
    return accounts.list_accounts(farm.db)


@router.post("/accounts", status_code=201)
def create_account(body: AccountCreate, farm: FarmDep, _admin: AdminDep) -> AccountCreatedOut:
    """Create an account; the access key is in the reply, and only there (admins only)."""
    record, key = accounts.create_account(farm.db, body.name, admin=body.admin, email=body.email)
    return AccountCreatedOut(account=record.name, access_key=key, record=record)


@router.patch("/accounts/{name}")
def change_account(name: str, body: AccountChange, farm: FarmDep, _admin: AdminDep) -> AccountOut:
    """Disable or enable an account (admins only)."""
    return accounts.set_disabled(farm.db, name, body.disabled)


@router.post("/accounts/{name}/key")
def rotate_key(name: str, farm: FarmDep, _admin: AdminDep) -> AccessKeyOut:
    """A new access key for an account (admins only); the old one stops working at once."""
    return AccessKeyOut(account=name, access_key=accounts.rotate_key(farm.db, name))


@router.post("/accounts/{name}/trust")
def trust(name: str, body: AccountTrust, farm: FarmDep, _admin: AdminDep) -> TrustOut:
    """Trust an account with the `command` job type, or take that back (admins only).

    Taking it back stops the account's queued and rendering command tasks (`stopped_tasks`).
    """
    return rights.set_trusted(farm.db, name, body.trusted)


@router.patch("/accounts/{name}/projects/{project}/sandbox")
def project_sandbox(
    name: str, project: str, body: ProjectRights, farm: FarmDep, _admin: AdminDep
) -> ProjectRightsOut:
    """Let an account's project reach the network or run its scene's scripts (admins only)."""
    return rights.set_project_rights(
        farm.db, name, project, allow_network=body.allow_network, allow_scripts=body.allow_scripts
    )


@router.get("/workers")
def list_workers(farm: FarmDep, _admin: AdminDep) -> list[WorkerOut]:
    """Every worker with its state, software, current work and last heartbeat (admins only)."""
    return workers.list_workers(farm.db)


@router.get("/software")
def software(farm: FarmDep, _account: AccountDep) -> list[SoftwareOut]:
    """Software and plugins that the farm's workers can run: the choices for plugin configs."""
    return workers.software_on_offer(farm.db)
