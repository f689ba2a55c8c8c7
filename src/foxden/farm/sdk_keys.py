"""The vendor SDK's credentials: an access id and a secret per account.

The SDK signs every request with HMAC-SHA256 keyed by the secret, so the server must be able to
read the secret back, unlike foxden's own access keys, which are stored only as hashes. The secret
is kept encrypted (Fernet: AES-128-CBC + HMAC-SHA256) under a key that lives in the data dir
(`sdk-secrets.key`, mode 0600), never in the database: a copy of the database alone reveals no
secret. `issue` makes a new pair (shown once) and replaces the old one at once.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from foxden.db.engine import Database
from foxden.db.schema import accounts, sdk_keys, sdk_nonces
from foxden.errors import Forbidden, Unauthorized
from foxden.farm.accounts import Account

KEY_FILE = "sdk-secrets.key"


class SecretBox:
    """Encrypts and decrypts SDK secrets with the farm's key (made on first use)."""

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / KEY_FILE
        self._fernet: Fernet | None = None

    def _key(self) -> Fernet:
        if self._fernet is None:
            if not self._path.exists():
                key = Fernet.generate_key()
                fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(key)
            self._fernet = Fernet(self._path.read_bytes().strip())
        return self._fernet

    def seal(self, secret: str) -> str:
        return self._key().encrypt(secret.encode()).decode()

    def open(self, box: str) -> str:
        try:
            return self._key().decrypt(box.encode()).decode()
        except InvalidToken:
            raise Unauthorized(
                "this account's SDK secret cannot be read with the farm's key "
                f"({KEY_FILE} in the data dir was replaced?): issue a new one with "
                "`foxden account sdk-key NAME`"
            ) from None


@dataclass(frozen=True)
class SdkKey:
    """A freshly issued SDK credential (the secret is shown this once)."""

    access_id: str
    access_key: str


def issue(db: Database, box: SecretBox, account_id: int) -> SdkKey:
    """A new access id and secret for the account, replacing any it had."""
    key = SdkKey(access_id=f"fda{secrets.token_hex(12)}", access_key=secrets.token_urlsafe(32))
    with db.write() as conn:
        conn.execute(delete(sdk_keys).where(sdk_keys.c.account_id == account_id))
        conn.execute(
            insert(sdk_keys).values(
                account_id=account_id,
                access_id=key.access_id,
                secret_box=box.seal(key.access_key),
                created_at=time.time(),
            )
        )
    return key


def access_id_of(db: Database, account_id: int) -> str | None:
    """The account's current SDK access id (None: it has none)."""
    with db.read() as conn:
        value = conn.execute(
            select(sdk_keys.c.access_id).where(sdk_keys.c.account_id == account_id)
        ).scalar_one_or_none()
    return None if value is None else str(value)


def lookup(db: Database, box: SecretBox, access_id: str) -> tuple[Account, str]:
    """The account an access id belongs to and its secret (401 unknown, 403 disabled)."""
    with db.read() as conn:
        row = conn.execute(
            select(accounts.c.id, accounts.c.name, accounts.c.is_admin, accounts.c.disabled)
            .add_columns(sdk_keys.c.secret_box)
            .join(sdk_keys, sdk_keys.c.account_id == accounts.c.id)
            .where(sdk_keys.c.access_id == access_id)
        ).first()
    if row is None:
        raise Unauthorized(
            "unknown accessId: use the access id and key that `foxden account sdk-key` printed"
        )
    if row.disabled:
        raise Forbidden(f"account {row.name!r} is disabled")
    return Account(id=row.id, name=row.name, is_admin=row.is_admin), box.open(row.secret_box)


def first_use(db: Database, access_id: str, stamp: int, nonce: str, keep_seconds: float) -> bool:
    """Record one signed request; False when (access id, timestamp, nonce) was seen already.

    Rows older than `keep_seconds` go: by then the timestamp check refuses the request anyway.
    """
    now = time.time()
    try:
        with db.write() as conn:
            conn.execute(delete(sdk_nonces).where(sdk_nonces.c.seen_at < now - keep_seconds))
            conn.execute(
                insert(sdk_nonces).values(
                    access_id=access_id, stamp=stamp, nonce=nonce, seen_at=now
                )
            )
    except IntegrityError:
        return False
    return True
