"""Where Earmark keeps its files, all private to the user (dirs 0700, files 0600)."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import platformdirs

__all__ = ["Paths", "private_umask", "write_private", "shipped_files"]

APP = "earmark"


def private_umask() -> None:
    """Make every file and directory this process creates private to the user."""
    os.umask(0o077)


def write_private(path: Path, text: str) -> None:
    """Replace a file's contents atomically and durably, readable only by the user (0600)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def shipped_files(package: str, checkout_dir: str) -> dict[str, Path]:
    """Files shipped as package data, by name: from the installed package, or from the folder
    they are built from when Earmark runs from a source checkout (editable installs do not map
    `package-dir`, so the package does not exist there)."""
    root = Path(__file__).resolve().parents[2]  # daemon/core/paths.py -> the checkout
    if (root / "pyproject.toml").is_file() and (root / checkout_dir).is_dir():
        return {p.name: p for p in sorted((root / checkout_dir).iterdir()) if p.is_file()}
    # A data folder without __init__.py is a namespace package: files() gives a MultiplexedPath,
    # whose str() is its repr, not a folder; its entries are real paths.
    folder = resources.files(package)
    return {e.name: Path(str(e)) for e in sorted(folder.iterdir(), key=str) if e.is_file()}


@dataclass(frozen=True)
class Paths:
    """The directories and files of one Earmark installation."""

    config_dir: Path
    data_dir: Path
    run_dir: Path

    @classmethod
    def under(cls, root: Path) -> Paths:
        """Everything under one folder, as EARMARK_HOME lays it out."""
        return cls(config_dir=root / "config", data_dir=root / "data", run_dir=root / "run")

    @classmethod
    def from_environment(cls) -> Paths:
        """Per-user platform dirs, or everything under EARMARK_HOME when it is set."""
        home = os.environ.get("EARMARK_HOME")
        if home:
            return cls.under(Path(home).expanduser().absolute())
        with warnings.catch_warnings():  # no XDG_RUNTIME_DIR: platformdirs picks /tmp, and says so
            warnings.simplefilter("ignore")
            run_dir = Path(platformdirs.user_runtime_dir(APP))
        return cls(
            config_dir=Path(platformdirs.user_config_dir(APP)),
            data_dir=Path(platformdirs.user_data_dir(APP)),
            run_dir=run_dir,
        )

    @property
    def profiles_dir(self) -> Path:
        return self.config_dir / "profiles"

    @property
    def database(self) -> Path:
        return self.data_dir / "earmark.db"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def control_socket(self) -> Path:
        return self.run_dir / "control.sock"

    @property
    def lock_file(self) -> Path:
        return self.run_dir / "daemon.lock"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "state.json"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "earmark.log"

    def ensure(self) -> Paths:
        """Create the directories (0700) if missing and tighten them if they are not private."""
        for directory in (
            self.config_dir,
            self.profiles_dir,
            self.data_dir,
            self.spool_dir,
            self.index_dir,
            self.run_dir,
        ):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if directory.stat().st_mode & 0o077:
                directory.chmod(0o700)
        return self
