"""Where a transcription server's utterances go while it is away or refuses: to it again after a
backoff, to the local model once its profile's `fallback_after_s` has passed, or nowhere yet (they
wait in the spool). The ledger and the status say when a server is away and when it is back."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from daemon.capture.ledger import SERVER_ANSWERS, SERVER_AWAY, CaptureLedger
from daemon.core.errors import EarmarkError
from daemon.core.profiles import Profile, TranscriptionServer
from daemon.transcribe.transcription_server import ServerRefused

__all__ = ["ServerRouting"]

log = logging.getLogger(__name__)

_SERVER_RETRY_MAX_S = 60.0


class _ServerTrouble:
    """A transcription server that cannot be used now: since when, why, and when to try again
    (never, for a refusal: its profile's server settings must change, or Earmark restart)."""

    def __init__(self, reason: str, *, refused: bool):
        self.since = time.time()
        self.began = time.monotonic()
        self.reason, self.refused = reason, refused
        self.backoff = 1.0
        self.retry_at = time.monotonic() + self.backoff
        self.profiles: set[str] = set()  # those it failed for

    def again(self, reason: str) -> None:
        self.reason = reason
        self.backoff = min(_SERVER_RETRY_MAX_S, self.backoff * 2)
        self.retry_at = time.monotonic() + self.backoff

    def describe(self) -> str:
        if self.refused:
            return (
                f"transcription server {self.reason}; its utterances wait in the spool until the "
                "profile's server settings change or Earmark restarts"
            )
        since = time.strftime("%H:%M", time.localtime(self.since))
        return f"transcription server {self.reason} since {since}; retrying"


class ServerRouting:
    """The servers in trouble, and the threads that send each server's utterances at once."""

    def __init__(
        self,
        *,
        profile_for: Callable[[str], Profile],
        ledger: CaptureLedger | None,
        note: Callable[[str], None],
    ):
        self.profile_for = profile_for
        self.ledger = ledger  # notes when a transcription server is away, and back
        self.note = note  # for the status's notes
        self._trouble: dict[TranscriptionServer, _ServerTrouble] = {}
        self._pools: dict[TranscriptionServer, ThreadPoolExecutor] = {}

    @property
    def problem(self) -> str | None:
        """Why a transcription server cannot be used now, or None."""
        troubles = list(self._trouble.values())
        return "; ".join(t.describe() for t in troubles) or None

    def route(self, server: TranscriptionServer) -> str:
        """Where an item of this server goes now: "server", "local" (its fallback) or "wait"."""
        trouble = self._trouble.get(server)
        if trouble is None:
            return "server"
        retry = not trouble.refused and time.monotonic() >= trouble.retry_at
        if retry:
            return "server"
        falls_back = server.fallback == "local"
        if falls_back and time.monotonic() - trouble.began >= server.fallback_after_s:
            return "local"
        return "wait"

    def pool(self, server: TranscriptionServer) -> ThreadPoolExecutor:
        """The threads that send a server's utterances at once."""
        pool = self._pools.get(server)
        if pool is None:
            pool = self._pools[server] = ThreadPoolExecutor(
                server.in_flight, thread_name_prefix="earmark-server"
            )
        return pool

    def failed(self, server: TranscriptionServer, exc: EarmarkError, profile: str) -> None:
        trouble = self._trouble.get(server)
        refused = isinstance(exc, ServerRefused)
        if trouble is None or trouble.refused != refused:
            trouble = self._trouble[server] = _ServerTrouble(str(exc), refused=refused)
            log.warning("the transcription server %s %s", server.url, exc)
            self._ledger_note(SERVER_AWAY, server, str(exc))
        else:
            trouble.again(str(exc))
        trouble.profiles.add(profile)

    def back(self, server: TranscriptionServer, said: str = "answers again") -> None:
        if self._trouble.pop(server, None) is not None:
            log.info("the transcription server %s %s", server.url, said)
            self._ledger_note(SERVER_ANSWERS, server)
            self.note(f"the transcription server {server.url} {said}")

    def forget_unused(self) -> None:
        """A server in trouble that no profile it failed for uses any more is no trouble."""
        for server, trouble in list(self._trouble.items()):
            if not any(self._uses(name, server) for name in trouble.profiles):
                self.back(server, "is no longer in its profiles' settings")

    def _uses(self, profile: str, server: TranscriptionServer) -> bool:
        """Whether the profile still transcribes on this server (as its settings say now)."""
        try:
            return self.profile_for(profile).transcription.server == server
        except EarmarkError:
            return True  # unreadable for now: its last good version stands

    def _ledger_note(self, state: str, server: TranscriptionServer, reason: str | None = None):
        """The server's track in the ledger; a ledger that cannot be written stops nothing."""
        if self.ledger is None:
            return
        try:
            self.ledger.record(
                state, source=server.url, reason=reason, track=f"server {server.url}"
            )
        except sqlite3.Error as exc:
            log.warning("the ledger cannot note the transcription server: %s", exc)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
