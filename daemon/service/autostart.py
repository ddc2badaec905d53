"""Start Earmark with the user's session: the right entry for each platform.

    Linux    an XDG autostart entry (tray, with the desktop session), or with --headless a
             systemd user unit (no tray, from login)
    macOS    a launchd agent in ~/Library/LaunchAgents
    Windows  a script in the Startup folder

The entries are the files in `packaging/autostart/`, with the path of this `earmark` filled in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from daemon.core.errors import EarmarkError
from daemon.core.paths import shipped_files

__all__ = ["Entry", "entries", "enable", "disable"]

_PLACEHOLDER = "@EARMARK@"


@dataclass(frozen=True)
class Entry:
    """One way of starting with the session: a template installed at a path."""

    kind: str  # what it is, in words
    template: str  # file name in packaging/autostart
    path: Path
    headless: bool = False

    @property
    def installed(self) -> bool:
        return self.path.exists()


def _template(name: str) -> Path:
    """Package data in an installed wheel, `packaging/autostart/` in a source checkout."""
    return shipped_files("daemon.autostart_templates", "packaging/autostart")[name]


def _config_home() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def entries(platform: str = sys.platform) -> list[Entry]:
    """The autostart entries this platform has, the usual one first."""
    if platform.startswith("linux"):
        return [
            Entry(
                "XDG autostart entry",
                "earmark.desktop",
                _config_home() / "autostart" / "earmark.desktop",
            ),
            Entry(
                "systemd user unit",
                "earmark.service",
                _config_home() / "systemd" / "user" / "earmark.service",
                headless=True,
            ),
        ]
    if platform == "darwin":
        agents = Path.home() / "Library" / "LaunchAgents"
        return [
            Entry("launchd agent", "org.earmark.daemon.plist", agents / "org.earmark.daemon.plist")
        ]
    if platform == "win32":
        appdata = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
        startup = appdata / "Microsoft" / "Windows" / "Start Menu" / "Programs" / "Startup"
        return [Entry("Startup folder script", "earmark-startup.cmd", startup / "earmark.cmd")]
    raise EarmarkError(f"starting with the session is not supported on {platform}")


def earmark_command() -> str:
    """The absolute path of the `earmark` command the entry should run."""
    beside_python = Path(sys.executable).parent / (
        "earmark.exe" if sys.platform == "win32" else "earmark"
    )
    found = shutil.which("earmark") or (str(beside_python) if beside_python.exists() else None)
    if found is None:
        raise EarmarkError(
            "the earmark command is not installed; install Earmark, then enable this"
        )
    return str(Path(found).absolute())


def enable(*, headless: bool = False, platform: str = sys.platform) -> tuple[Entry, str | None]:
    """Install the entry (replacing an older one); returns it and anything left to do."""
    candidates = [e for e in entries(platform) if e.headless == headless] or entries(platform)[:1]
    entry = candidates[0]
    text = _template(entry.template).read_text()
    text = text.replace(_PLACEHOLDER, earmark_command())
    entry.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry.path.with_name(entry.path.name + ".tmp")
    tmp.write_text(text, newline="\r\n" if entry.template.endswith(".cmd") else None)
    os.replace(tmp, entry.path)
    if entry.template.endswith(".service"):
        if not (_systemctl("daemon-reload") and _systemctl("enable", "earmark.service")):
            return (
                entry,
                "systemd's user manager is not reachable here; in your session run "
                "`systemctl --user enable --now earmark`",
            )
    return entry, None


def disable(platform: str = sys.platform) -> list[Entry]:
    """Remove every installed entry of this platform; returns those removed."""
    removed = []
    for entry in entries(platform):
        if entry.installed:
            if entry.template.endswith(".service"):
                _systemctl("disable", "earmark.service")
            entry.path.unlink()
            removed.append(entry)
    return removed


def _systemctl(*args: str) -> bool:
    """Run `systemctl --user`; False (not an error) where no user manager is reachable."""
    if shutil.which("systemctl") is None:
        return False
    result = subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True)
    return result.returncode == 0
