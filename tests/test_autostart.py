"""`earmark autostart`: the right session entry for each platform, filled in and removable."""

import configparser
import plistlib
import sys
from pathlib import Path

import pytest
from realparts import earmark

from daemon.core.errors import EarmarkError
from daemon.service import autostart


@pytest.fixture
def user_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("APPDATA", str(tmp_path / "appdata"))
    return tmp_path


def ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read_string(path.read_text())
    return parser


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux entries")
def test_enable_status_disable_on_linux(user_dirs):
    command = autostart.earmark_command()
    assert Path(command).is_absolute() and Path(command).exists()

    enabled = earmark("autostart", "enable")
    desktop = user_dirs / "config" / "autostart" / "earmark.desktop"
    assert enabled.returncode == 0
    assert enabled.stdout.splitlines()[0] == (
        f"earmark starts with your session: XDG autostart entry {desktop}"
    )
    entry = ini(desktop)["Desktop Entry"]
    assert entry["Exec"] == f"{command} run" and entry["Type"] == "Application"
    assert (
        earmark("autostart", "status").stdout.strip() == f"enabled: XDG autostart entry {desktop}"
    )

    headless = earmark("autostart", "enable", "--headless")
    unit = user_dirs / "config" / "systemd" / "user" / "earmark.service"
    assert headless.returncode == 0 and str(unit) in headless.stdout
    assert ini(unit)["Service"]["ExecStart"] == f"{command} run --headless"

    disabled = earmark("autostart", "disable")
    assert disabled.stdout.splitlines() == [
        f"removed XDG autostart entry {desktop}",
        f"removed systemd user unit {unit}",
    ]
    assert not desktop.exists() and not unit.exists()
    assert earmark("autostart", "status").stdout.strip() == (
        "disabled: earmark does not start with your session"
    )


def test_macos_gets_a_launchd_agent(user_dirs):
    entry, todo = autostart.enable(platform="darwin")
    assert (
        entry.path == user_dirs / "home" / "Library" / "LaunchAgents" / "org.earmark.daemon.plist"
    )
    agent = plistlib.loads(entry.path.read_bytes())
    assert agent["Label"] == "org.earmark.daemon" and agent["RunAtLoad"] is True
    assert agent["ProgramArguments"] == [autostart.earmark_command(), "run"]
    assert todo is None
    assert autostart.disable(platform="darwin") == [entry] and not entry.path.exists()


def test_windows_gets_a_startup_folder_script(user_dirs):
    entry, _ = autostart.enable(platform="win32")
    startup = user_dirs / "appdata" / "Microsoft" / "Windows" / "Start Menu" / "Programs"
    assert entry.path == startup / "Startup" / "earmark.cmd"
    script = entry.path.read_bytes()
    assert b"\r\n" in script and b"\n" not in script.replace(b"\r\n", b"")
    assert f'"{autostart.earmark_command()}" run'.encode() in script


def test_an_unknown_platform_is_refused_in_one_sentence(user_dirs):
    with pytest.raises(EarmarkError, match="not supported on plan9"):
        autostart.enable(platform="plan9")
