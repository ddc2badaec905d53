"""Search as the daemon answers it: the indexes stay open between searches, far faster than a
fresh process opening them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from daemon.core.errors import EarmarkError
from daemon.storage.search import SearchIndex, search_profiles

__all__ = ["OpenIndexes"]


class OpenIndexes:
    """Every profile's index opened once, searched under one lock."""

    def __init__(self, index_dir: Path, profile_names: Callable[[], list[str]]):
        self.index_dir = index_dir
        self.profile_names = profile_names  # all profiles, for a search that names none
        self._indexes: dict[str, SearchIndex] = {}
        self._lock = threading.Lock()

    def search(self, message: dict) -> list[dict]:
        with self._lock:
            hits = search_profiles(
                self.index_dir,
                self._profiles_asked(message.get("profiles")),
                str(message["query"]),
                since=message.get("since"),
                until=message.get("until"),
                limit=int(message.get("limit", 10)),
                newest_first=bool(message.get("newest_first")),
                open_indexes=self._indexes,
            )
        return [asdict(hit) for hit in hits]

    def warm(self, name: str) -> None:
        """Open a profile's index ahead of the first search (large ones take a while)."""
        with self._lock:
            self._indexes.setdefault(name, SearchIndex(self.index_dir, name)).warm()

    def close(self) -> None:
        for index in self._indexes.values():
            index.close()

    def _profiles_asked(self, profiles) -> list[str]:
        """The profiles a search names; none means all of them."""
        if not profiles:
            return self.profile_names()
        if not isinstance(profiles, list) or not all(isinstance(p, str) for p in profiles):
            raise EarmarkError("profiles: expected a list of profile names")
        return profiles
