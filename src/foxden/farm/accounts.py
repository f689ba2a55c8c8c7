"""Accounts and their access keys."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, RowMapping, select, update

from foxden.db.engine import Database, new_id
from foxden.db.schema import accounts
from foxden.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized, quote
from foxden.farm.secrets import hash_secret, matches, new_secret
from foxden.wire.api import AccountOut

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


@dataclass(frozen=True)
class Account:
    """An authenticated account."""

    id: int
    name: str
    is_admin: bool


def create_account(
    db: Database, name: str, *, admin: bool = False, email: str = ""
) -> tuple[AccountOut, str]:
    """Create an account; returns its record and its access key (shown once, stored hashed)."""
    if not _NAME.match(name):
        raise BadRequest(
            f"account name {quote(name)} is not allowed: use 1-64 letters, digits, '_', '.', '@' or '-'"
        )
    key = new_secret("fdk")
    with db.write() as conn:
        if conn.execute(select(accounts.c.id).where(accounts.c.name == name)).first():
            raise Conflict(f"account {name!r} already exists")
        account_id = new_id(
            conn.execute(
                accounts.insert().values(
                    name=name,
                    key_hash=hash_secret(key),
                    is_admin=admin,
                    disabled=False,
                    email=email,
                    created_at=time.time(),
                )
            )
        )
        row = conn.execute(select(accounts).where(accounts.c.id == account_id)).mappings().one()
    return account_record(row), key


def authenticate(conn: Connection, key: str | None, account_name: str | None = None) -> Account:
    """The account whose access key is `key`; 401 for a wrong key, 403 when disabled."""
    if not key:
        raise Unauthorized("missing access key: send 'Authorization: Bearer <access key>'")
    return check_account(
        conn,
        accounts.c.key_hash == hash_secret(key),
        lambda key_hash: matches(key, key_hash),
        account_name,
    )


def check_account(
    conn: Connection,
    where: ColumnElement[bool],
    key_ok: Callable[[str], bool],
    account_name: str | None = None,
) -> Account:
    """The account that `where` selects, checked the one way every caller checks it: 401 when
    there is none or `key_ok` refuses its key hash (or it is not `account_name`), 403 when it is
    disabled. The API's bearer keys and the web's sessions both come through here."""
    row = conn.execute(
        select(
            accounts.c.id,
            accounts.c.name,
            accounts.c.key_hash,
            accounts.c.is_admin,
            accounts.c.disabled,
        ).where(where)
    ).first()
    if row is None or not key_ok(row.key_hash):
        raise Unauthorized("wrong access key: check the key this farm gave your account")
    if account_name is not None and account_name != row.name:
        raise Unauthorized(f"the access key does not belong to account {quote(account_name)}")
    if row.disabled:
        raise Forbidden(f"account {row.name!r} is disabled: ask the farm's administrator")
    return Account(id=row.id, name=row.name, is_admin=bool(row.is_admin))


def touch_login(db: Database, account: Account) -> None:
    """Record the time of a login."""
    with db.write() as conn:
        conn.execute(
            update(accounts).where(accounts.c.id == account.id).values(login_at=time.time())
        )


def account_record(row: RowMapping) -> AccountOut:
    """The public record of an account (never its key hash)."""
    return AccountOut(
        id=row["id"],
        name=row["name"],
        is_admin=bool(row["is_admin"]),
        disabled=bool(row["disabled"]),
        trusted=bool(row["trusted"]),  # may use privileged job types (farm/rights.py)
        email=row["email"],
        created_at=row["created_at"],
        login_at=row["login_at"],
    )


def get_account(db: Database, account_id: int) -> AccountOut:
    """One account's record."""
    with db.read() as conn:
        row = conn.execute(select(accounts).where(accounts.c.id == account_id)).mappings().first()
    if row is None:
        raise NotFound(f"no account {account_id}")
    return account_record(row)


def get_account_by_name(db: Database, name: str) -> AccountOut:
    """One account's record, by name (404 when there is none)."""
    with db.read() as conn:
        row = conn.execute(select(accounts).where(accounts.c.name == name)).mappings().first()
    if row is None:
        raise NotFound(f"no account named {name!r}")
    return account_record(row)


def list_accounts(db: Database) -> list[AccountOut]:
    """Every account (admins only, checked by the caller)."""
    with db.read() as conn:
        rows = conn.execute(select(accounts).order_by(accounts.c.id)).mappings().all()
    return [account_record(r) for r in rows]


def set_disabled(db: Database, name: str, disabled: bool) -> AccountOut:
    """Disable or enable an account by name."""
    with db.write() as conn:
        res = conn.execute(
            update(accounts).where(accounts.c.name == name).values(disabled=disabled)
        )
        if res.rowcount == 0:
            raise NotFound(f"no account named {name!r}")
        row = conn.execute(select(accounts).where(accounts.c.name == name)).mappings().one()
    return account_record(row)


def rotate_key(db: Database, name: str) -> str:
    """Give account `name` a new access key (shown once); the old key stops working at once."""
    key = new_secret("fdk")
    with db.write() as conn:
        res = conn.execute(
            update(accounts).where(accounts.c.name == name).values(key_hash=hash_secret(key))
        )
    if res.rowcount == 0:
        raise NotFound(f"no account named {name!r}")
    return key
