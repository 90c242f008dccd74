"""Releasing expired holds on a timer inside the server, for installs without cron.

Set ``RESERVATION_SWEEP_SECONDS`` (e.g. 60) and each server process (each gunicorn worker) starts
one daemon thread on its first request, so a forked worker owns its own thread. Several processes
sweeping at once is safe: ``release_expired`` gives each its own reservations (``SKIP LOCKED``).
Correctness never depends on it running: availability ignores a lapsed hold the moment it lapses.
"""

from __future__ import annotations

import logging
import random
import threading

from flask import Flask

log = logging.getLogger(__name__)


class PeriodicRelease(threading.Thread):
    def __init__(self, app: Flask, seconds: float) -> None:
        super().__init__(name="release-expired", daemon=True)
        self.app = app
        self.seconds = seconds
        self.stopping = threading.Event()
        #: Set after each completed sweep; lets callers wait for one without guessing times.
        self.swept = threading.Event()
        self.runs = 0

    def run(self) -> None:
        # A random first delay spreads the workers' sweeps instead of running them in lockstep.
        delay = random.uniform(0, self.seconds)
        while not self.stopping.wait(delay):
            self.run_once()
            delay = self.seconds

    def run_once(self) -> None:
        from inventory.reservations.sweep import release_expired

        with self.app.app_context():
            try:
                result = release_expired()
            except Exception:
                log.exception("releasing expired reservations failed; will try again")
                return
        if result.reservations or result.idempotency_keys:
            log.info(
                "released %d expired reservations (%d units), purged %d idempotency keys",
                result.reservations,
                result.units,
                result.idempotency_keys,
            )
        self.runs += 1
        self.swept.set()

    def stop(self) -> None:
        self.stopping.set()


def init_app(app: Flask) -> None:
    seconds = float(app.config.get("RESERVATION_SWEEP_SECONDS") or 0)
    if seconds <= 0:
        return
    lock = threading.Lock()

    @app.before_request
    def _start_sweeper() -> None:
        if "stockroom.sweeper" in app.extensions:
            return
        with lock:
            if "stockroom.sweeper" not in app.extensions:
                thread = PeriodicRelease(app, seconds)
                app.extensions["stockroom.sweeper"] = thread
                thread.start()
