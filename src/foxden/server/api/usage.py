"""What accounts used (farm/usage.py): your own, or every account's for administrators."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from fastapi import APIRouter

from foxden.errors import Forbidden
from foxden.farm import usage
from foxden.server.api.deps import AccountDep, FarmDep
from foxden.wire.events import UsageLineOut, UsageOut

router = APIRouter(prefix="/api/usage", tags=["usage"])


@router.get("")
def report(
    farm: FarmDep,
    account: AccountDep,
    since: str | None = None,
    by: Literal["account", "project", "task"] = "project",
    account_name: str | None = None,
    all_accounts: bool = False,
) -> UsageOut:
    """Core-seconds, GPU-seconds and fees per account, project or task, from `since` (a date,
    a date and time, or an age: 7d, 12h). Administrators may name another account
    (`account_name`) or ask for every account (`all_accounts`)."""
    who: int | None = account.id
    if account_name is not None or all_accounts:
        if not account.is_admin:
            raise Forbidden("only an administrator can see other accounts' usage")
        who = None if account_name is None else usage.account_id_of(farm.db, account_name)
    start = usage.parse_since(since)
    rate = farm.settings.fee_per_core_hour
    lines = usage.report(farm.db, account_id=who, since=start, by=by, rate_per_core_hour=rate)
    cores = sum(line.core_seconds for line in lines)
    return UsageOut(
        since=start,
        by=by,
        rate_per_core_hour=rate,
        lines=[UsageLineOut(**asdict(line)) for line in lines],
        core_seconds=cores,
        gpu_seconds=sum(line.gpu_seconds for line in lines),
        fee=usage.fee(cores, rate),
    )
