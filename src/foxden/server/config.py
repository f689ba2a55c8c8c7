"""Typed settings: one object, built in `main()` from CLI > environment > config file > defaults."""

from __future__ import annotations

import logging
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

ENV_PREFIX = "FOXDEN_"
DEFAULT_DATA_DIR = Path(".foxden")
LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class Settings(BaseModel):
    """Everything the server (and `foxden up`) can be told."""

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""  # empty: SQLite file in data_dir
    host: str = "127.0.0.1"
    port: int = Field(default=8642, ge=0, le=65535)
    lease_seconds: float = Field(default=60.0, gt=0)
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    reap_seconds: float = Field(default=1.0, gt=0)
    # the longest the server holds an idle claim open (long poll) when a worker asks it to wait
    claim_wait_seconds: float = Field(default=20.0, ge=0, le=60)
    max_attempts: int = Field(default=3, ge=1)
    default_chunk_size: int = Field(default=1, ge=1)
    public_url: str = ""  # how clients reach the server, if not http://host:port
    log_level: LogLevel = "info"  # foxden's own messages (uvicorn's: see apply_log_level)
    max_blob_bytes: int = Field(default=4 << 30, ge=1)  # the largest file an upload may carry
    approve_workers: bool = False  # a new worker gets no work until an admin approves it
    max_json_bytes: int = Field(default=4 << 20, ge=1024)  # a JSON (or form) request body
    max_manifest_bytes: int = Field(default=64 << 20, ge=1024)  # /api/files/check and commit
    login_failures: int = Field(default=10, ge=1)  # failed logins per address or account ...
    login_window_seconds: float = Field(default=60.0, gt=0)  # ... in this many seconds
    # the vendor SDK's signed requests: how far UTCTimestamp may be from the server's clock
    # (nonces are remembered this long, so a captured request cannot be replayed)
    sdk_clock_window_seconds: int = Field(default=300, ge=10, le=3600)
    # usage: what one core-hour costs in the vendor's `fee` fields (0: no fee shown)
    fee_per_core_hour: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    webhook_poll_seconds: float = Field(default=1.0, gt=0)  # how often due webhooks are sent
    # let webhooks reach loopback, private and link-local addresses (receivers on the farm's own
    # network); off: an account cannot make the server POST into the network it sits in
    webhook_private_addresses: bool = False
    # failure memory (farm/failure_memory.py): frames of one task a worker may fail before it is
    # no longer given that task; failed reports in a row that flag a worker for admins; and
    # whether a flagged worker is disabled too
    worker_task_failures: int = Field(default=3, ge=1, le=1000)
    worker_failure_streak: int = Field(default=5, ge=1, le=100_000)
    disable_flagged_workers: bool = False
    tls_cert: Path | None = None  # serve HTTPS with this certificate (PEM; chain allowed) ...
    tls_key: Path | None = None  # ... and this private key

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("HTTPS needs both tls_cert and tls_key (--tls-cert and --tls-key)")
        return self

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL of the farm database (SQLite in the data dir by default)."""
        return self.database_url or f"sqlite:///{self.data_dir / 'foxden.db'}"

    @property
    def blob_dir(self) -> Path:
        """Where content-addressed blobs live."""
        return self.data_dir / "blobs"

    @property
    def scheme(self) -> str:
        """'https' when a certificate is configured, else 'http'."""
        return "https" if self.tls_cert is not None else "http"

    @property
    def url(self) -> str:
        """The URL clients and workers use to reach this server."""
        return self.public_url or f"{self.scheme}://{self.host}:{self.port}"


def apply_log_level(settings: Settings) -> str:
    """Set foxden's loggers to `settings.log_level`; returns the level for uvicorn's loggers.

    uvicorn logs every request at info, so it stays at warning unless the level is debug (all of
    it) or quieter than warning.
    """
    logging.getLogger("foxden").setLevel(settings.log_level.upper())
    return "warning" if settings.log_level in ("info", "warning") else settings.log_level


def _from_env(environ: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in Settings.model_fields:
        key = ENV_PREFIX + name.upper()
        if key in environ:
            values[name] = environ[key]
    return values


def _from_file(path: Path | None) -> dict[str, Any]:
    if path is None or not path.exists():
        return {}
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    section = data.get("server", data)
    return {k: v for k, v in section.items() if k in Settings.model_fields}


def load_settings(
    cli: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Merge settings with precedence CLI > environment > config file > defaults.

    The config file is `config_file`, else `$FOXDEN_CONFIG`, else `<data_dir>/foxden.toml`.
    """
    env = dict(os.environ if environ is None else environ)
    cli_values = {k: v for k, v in (cli or {}).items() if v is not None}
    env_values = _from_env(env)
    if config_file is None and env.get(ENV_PREFIX + "CONFIG"):
        config_file = Path(env[ENV_PREFIX + "CONFIG"])
    if config_file is None:
        data_dir = Path(
            cli_values.get("data_dir") or env_values.get("data_dir") or DEFAULT_DATA_DIR
        )
        config_file = data_dir / "foxden.toml"
    merged = {**_from_file(config_file), **env_values, **cli_values}
    return Settings(**merged)
