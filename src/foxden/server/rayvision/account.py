"""The SDK's user and account calls: profile, settings, storage ids, hardware, platforms."""

from __future__ import annotations

from typing import Any

from foxden.farm import accounts
from foxden.server.rayvision.calls import Call, handles


def storage_ids(account_id: int) -> dict[str, str]:
    """The account's storage ids (`bid`s): the transmitter is told which one a transfer uses."""
    return {
        "config_bid": f"config-{account_id}",
        "input_bid": f"input-{account_id}",
        "output_bid": f"output-{account_id}",
    }


@handles("/api/render/setUp/queryUserProfile")
def query_user_profile(call: Call) -> dict[str, Any]:
    """Who the caller is: `userId` (the account id), `userName`, own storage."""
    record = accounts.get_account(call.farm.db, call.account.id)
    return {
        "userId": record.id,
        "userName": record.name,
        "mainUserId": record.id,
        "shareMainCapital": 0,
        "email": record.email,
        "accountType": 1 if record.is_admin else 0,
    }


@handles("/api/render/setUp/queryUserSetting")
def query_user_setting(call: Call) -> dict[str, Any]:
    """The caller's settings."""
    return {"taskOverTimeSec": None, "language": "en"}


@handles("/api/render/transfer/getBid")
def get_bid(call: Call) -> dict[str, Any]:
    """The account's storage ids."""
    return {**storage_ids(call.account.id), "parent_input_bid": ""}
