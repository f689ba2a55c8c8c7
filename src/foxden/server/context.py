"""What every request handler shares: settings, database, blob store and the join key."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from foxden.db.engine import Database
from foxden.db.migrate import upgrade
from foxden.farm.caches import PayloadCache, TokenCache
from foxden.farm.scheduler import WorkerInfo, reap_expired
from foxden.farm.sdk_keys import SecretBox
from foxden.farm.webhooks import Dispatcher
from foxden.farm.workers import JoinKey
from foxden.server.config import Settings
from foxden.server.logins import LoginLimiter
from foxden.server.replays import Replays
from foxden.store.blobs import BlobStore
from foxden.wire.worker import ReportOut

log = logging.getLogger("foxden.server")


def private_dir(path: Path) -> None:
    """Make `path` (and missing parents) a folder only its owner may enter (0700).

    The data dir holds the join key, the web secret, the database and every account's files: an
    existing one that others could read is closed too, and the log says so.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        path.chmod(0o700)
        log.warning("closed the data dir %s to other users (mode %o -> 700)", path, mode)


@dataclass
class Farm:
    """The server's shared state."""

    settings: Settings
    db: Database
    store: BlobStore
    join_keys: JoinKey
    #: worker tokens checked a few seconds ago, and task payloads (see farm/caches.py).
    tokens: TokenCache[WorkerInfo] = field(default_factory=TokenCache)
    payloads: PayloadCache = field(default_factory=PayloadCache)
    #: the replies of reports a worker may send again (server/replays.py)
    reports: Replays[ReportOut] = field(default_factory=Replays)
    _stop: threading.Event = field(default_factory=threading.Event)
    _reaper: threading.Thread | None = None
    _webhooks: threading.Thread | None = None
    logins: LoginLimiter = field(init=False)
    #: the vendor SDK's secrets, encrypted with the key in the data dir (farm/sdk_keys.py)
    sdk_box: SecretBox = field(init=False)

    def __post_init__(self) -> None:
        self.logins = LoginLimiter(self.settings.login_failures, self.settings.login_window_seconds)
        self.sdk_box = SecretBox(self.settings.data_dir)

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> Farm:
        """Open (and by default migrate) the farm described by `settings`."""
        private_dir(settings.data_dir)
        db = Database(settings.db_url)
        if migrate:
            upgrade(db)
        return cls(
            settings=settings,
            db=db,
            store=BlobStore(settings.blob_dir),
            join_keys=JoinKey(settings.data_dir),
        )

    @property
    def join_key(self) -> str:
        """The join key now in the data dir (`foxden join-key --rotate` takes effect at once)."""
        return self.join_keys.current()

    def start_reaper(self) -> None:
        """Start the thread that requeues frames of expired leases."""
        if self._reaper is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(self.settings.reap_seconds):
                try:
                    moved = reap_expired(self.db)
                    if moved:
                        log.info(
                            "requeued %d frame(s) of expired leases",
                            moved,
                            extra={"event": "lease_expired"},
                        )
                except Exception:  # keep reaping whatever happens
                    log.exception("lease reaper failed")

        self._reaper = threading.Thread(target=loop, name="foxden-reaper", daemon=True)
        self._reaper.start()
        self.start_webhooks()

    def start_webhooks(self) -> None:
        """Start the thread that delivers webhook events (farm/webhooks.py).

        It runs beside rendering, never in it: a receiver that is slow or down delays only
        its own deliveries (each attempt is time-bounded), never a claim or a report.
        """
        if self._webhooks is not None:
            return
        dispatcher = Dispatcher(
            self.db,
            self.sdk_box,
            stopping=self._stop.is_set,
            allow_private=self.settings.webhook_private_addresses,
        )

        def loop() -> None:
            while not self._stop.wait(self.settings.webhook_poll_seconds):
                try:
                    while dispatcher.step() and not self._stop.is_set():
                        pass  # more were due: send them before waiting again
                except Exception:  # keep delivering whatever happens
                    log.exception("webhook delivery failed")

        self._webhooks = threading.Thread(target=loop, name="foxden-webhooks", daemon=True)
        self._webhooks.start()

    def close(self) -> None:
        """Stop background work and close the database."""
        self._stop.set()
        if self._reaper is not None:
            self._reaper.join(timeout=5)
            self._reaper = None
        if self._webhooks is not None:
            self._webhooks.join(timeout=10)
            self._webhooks = None
        self.db.dispose()
