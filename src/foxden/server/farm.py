"""What every request handler shares: settings, database, blob store and the join key."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from foxden.config import Settings
from foxden.db.engine import Database
from foxden.db.migrate import upgrade
from foxden.farm.scheduler import reap_expired
from foxden.farm.workers import ensure_join_key
from foxden.store.blobs import BlobStore

log = logging.getLogger("foxden.server")


@dataclass
class Farm:
    """The server's shared state."""

    settings: Settings
    db: Database
    store: BlobStore
    join_key: str
    _stop: threading.Event = field(default_factory=threading.Event)
    _reaper: threading.Thread | None = None

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> Farm:
        """Open (and by default migrate) the farm described by `settings`."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.db_url)
        if migrate:
            upgrade(db)
        return cls(
            settings=settings,
            db=db,
            store=BlobStore(settings.blob_dir),
            join_key=ensure_join_key(settings.data_dir),
        )

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

    def close(self) -> None:
        """Stop background work and close the database."""
        self._stop.set()
        if self._reaper is not None:
            self._reaper.join(timeout=5)
            self._reaper = None
        self.db.dispose()
