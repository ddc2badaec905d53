"""The daemon's background jobs, off its main loop: activation rules (every few seconds),
scheduled exports (every minute) and retention (daily)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from daemon.capture.sources.microphone import input_device_present
from daemon.core.activation import rule_holds
from daemon.core.paths import Paths
from daemon.core.schedule import ExportLog, parse_schedule
from daemon.service.profile_cache import ProfileCache
from daemon.storage.forgetting import Forgetter
from daemon.storage.retention import RETENTION_EVERY_S, enforce_retention
from daemon.storage.store import Store
from daemon.summaries.export import export_period

__all__ = ["BackgroundJobs"]

log = logging.getLogger(__name__)

_JOBS_EVERY_S = 5.0  # activation rules; scheduled exports every minute, retention daily
_SCHEDULE_EVERY_S = 60.0


class BackgroundJobs:
    """Runs the jobs that are due on a thread of their own, one round at a time."""

    def __init__(
        self,
        *,
        paths: Paths,
        store: Store,
        forgetter: Forgetter,
        profiles: ProfileCache,
        active: Callable[[], str],
        switch_to: Callable[[str], object],
    ):
        self.paths = paths
        self.store = store
        self.forgetter = forgetter
        self.profiles = profiles
        self.active = active  # the name of the profile recording now
        self.switch_to = switch_to
        self._running = threading.Event()
        self._next_round = time.monotonic()
        self._next_retention = 0.0
        self._next_schedule_check = 0.0
        self._export_log = ExportLog(paths.data_dir / "exports.json")
        self._activated: str | None = None  # the profile activation rules chose, if any
        self.chosen_by_hand: str | None = None  # what returns when activation rules stop holding

    def start_if_due(self) -> None:
        if time.monotonic() >= self._next_round and not self._running.is_set():
            self._next_round = time.monotonic() + _JOBS_EVERY_S
            self._running.set()
            threading.Thread(target=self._round, name="earmark-jobs", daemon=True).start()

    def _round(self) -> None:
        try:
            if time.monotonic() >= self._next_retention:
                self._next_retention = time.monotonic() + RETENTION_EVERY_S
                enforce_retention(self.store, self.forgetter, self.paths.profiles_dir)
            self._activate_by_rules()
            if time.monotonic() >= self._next_schedule_check:
                self._next_schedule_check = time.monotonic() + _SCHEDULE_EVERY_S
                self._scheduled_exports()
        except Exception:  # retried at the next check; capture goes on
            log.exception("a background job failed")
        finally:
            self._running.clear()

    def _activate_by_rules(self) -> None:
        """Switch to the first profile whose activation rule holds; back when none does."""
        now = datetime.now()
        wanted = next(
            (
                name
                for name, profile in self.profiles.loadable()
                if rule_holds(
                    profile.activation.windows,
                    profile.activation.when_device,
                    now,
                    input_device_present,
                )
            ),
            None,
        )
        if wanted == self._activated:
            return  # no change of rules: a profile chosen by hand meanwhile stands
        if self._activated is None:
            self.chosen_by_hand = self.active()
        target = wanted or self.chosen_by_hand
        self._activated = wanted
        if target and target != self.active():
            log.info("activation rules: switching to profile %s", target)
            self.switch_to(target)

    def _scheduled_exports(self) -> None:
        """Export each profile whose schedules have come due since their last runs."""
        now = time.time()
        for name, profile in self.profiles.loadable():
            for text in profile.export.schedules:
                schedule = parse_schedule(text)
                due = schedule.last_due(now)
                key = f"{name} {text}"
                if due.timestamp() <= self._export_log.done.get(key, 0.0):
                    continue
                try:
                    period = schedule.period(due)
                    path = export_period(self.paths, profile, *period, skip_empty=True)
                    if path is not None:
                        log.info("scheduled export (%s) of %s written to %s", text, name, path)
                except Exception:  # retried at the next due time; capture goes on
                    log.exception("the scheduled export of %s failed", name)
                self._export_log.record(key, due.timestamp())
