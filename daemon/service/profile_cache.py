"""The profiles the daemon works with, read again when their files change."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from daemon.core.errors import EarmarkError
from daemon.core.profiles import Profile, list_profiles, load_profile, profile_files

__all__ = ["ProfileCache"]

log = logging.getLogger(__name__)


class ProfileCache:
    """Profiles by name, each read again when its file changes; a profile that no longer loads
    keeps its last good version."""

    def __init__(self, profiles_dir: Path):
        self.profiles_dir = profiles_dir
        self._profiles: dict[str, Profile] = {}
        self._versions: dict[str, tuple | None] = {}  # file, mtime, size last read

    def get(self, name: str) -> Profile:
        path = profile_files(self.profiles_dir).get(name)
        try:
            stat = path.stat() if path else None
        except OSError:
            stat = None
        version = (path, stat.st_mtime_ns, stat.st_size) if stat else None
        if version is not None and self._versions.get(name) == version:
            return self._profiles[name]
        try:
            self._profiles[name] = load_profile(name, self.profiles_dir)
        except EarmarkError as exc:
            if name not in self._profiles:
                raise
            log.warning("%s; keeping the last good version of profile %s", exc, name)
        self._versions[name] = version
        return self._profiles[name]

    def loadable(self) -> Iterator[tuple[str, Profile]]:
        """Every profile that loads (or has a last good version), by name."""
        for name in list_profiles(self.profiles_dir):
            try:
                yield name, self.get(name)
            except EarmarkError:
                continue
