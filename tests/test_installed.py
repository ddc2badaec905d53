"""The artefact a user installs: the wheel, in a virtual environment away from the checkout.

The rest of the suite runs from the checkout (an editable install), where package data is found in
the source tree; this module builds the wheel, installs it as pip does for a user, and runs the
installed `earmark` from elsewhere.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
PROFILES = ["default", "journal", "lectures", "meetings", "researcher"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv holding only the built wheel; its dependencies come from the test venv."""
    root = tmp_path_factory.mktemp("installed")
    wheels = root / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
        check=True,
        cwd=root,
    )
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    [wheel] = wheels.glob("earmark-*.whl")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install"]
        + ["-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
    )
    # The test venv's packages are reachable as a plain path: its .pth files (the editable
    # install of the checkout among them) are not run, so `daemon` comes from the wheel alone.
    [purelib] = (venv / "lib").glob("python3*/site-packages")
    (purelib / "test-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return venv


def run(venv: Path, home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "EARMARK_HOME": str(home), "HF_HUB_OFFLINE": "1", **env}
    environment.pop("PYTHONPATH", None)
    return subprocess.run(
        [str(venv / "bin" / "earmark"), *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=home.parent,
        timeout=300,
    )


def test_the_wheel_is_what_runs(installed, tmp_path):
    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import daemon; print(daemon.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    ).stdout
    assert str(installed) in where and str(REPO) not in where


def test_the_installed_package_finds_its_built_in_profiles(installed, tmp_path):
    listed = run(installed, tmp_path / "home", "profile", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [p["name"] for p in json.loads(listed.stdout)] == PROFILES
    shown = run(installed, tmp_path / "home", "profile", "show", "meetings")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["name"] == "meetings"


def test_the_installed_package_writes_its_autostart_entry(installed, tmp_path):
    config = tmp_path / "xdg-config"
    enabled = run(installed, tmp_path / "home", "autostart", "enable", XDG_CONFIG_HOME=str(config))
    assert enabled.returncode == 0, enabled.stderr
    entry = (config / "autostart" / "earmark.desktop").read_text()
    assert "[Desktop Entry]" in entry and "earmark" in entry


def test_the_installed_package_imports_and_finds_real_speech(installed, tmp_path):
    home = tmp_path / "home"
    clip = REPO / "tests" / "data" / "speech" / "jfk_inaugural.wav"  # a person, not a synthesiser
    imported = run(installed, home, "import", str(clip), "--profile", "default")
    assert imported.returncode == 0, imported.stderr
    found = run(installed, home, "search", "country", "--profile", "default", "--json")
    assert found.returncode == 0, found.stderr
    [hit] = json.loads(found.stdout)
    assert "what your country can do for you" in hit["text"].lower()
    assert hit["source"] == "file:jfk_inaugural.wav"


def test_the_installed_package_imports_a_meeting_transcript_and_writes_its_notes(
    installed, tmp_path
):
    home = tmp_path / "home"
    vtt = tmp_path / "meeting.vtt"
    vtt.write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:05.000\n<v Ana>So we'll go with the rubber case.\n\n"
        "00:00:05.500 --> 00:00:07.000\n<v Ben>Yeah, sounds good.\n\n"
        "00:00:08.000 --> 00:00:12.000\n<v Ben>I'll send the drawings to the factory by Friday.\n"
    )
    at = "2026-03-02T09:00"
    imported = run(installed, home, "import", str(vtt), "--profile", "meetings", "--at", at)
    assert imported.returncode == 0, imported.stderr
    exported = run(
        installed, home, "export", "--profile", "meetings", "--since", at,
        "--until", "2026-03-02T10:00", "--format", "json", "-o", "-",
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    [conversation] = json.loads(exported.stdout)["conversations"]
    sections = {s["name"]: s["items"] for s in conversation["sections"]}
    assert sections["decisions"][0]["agreed_by"] == ["Ben"]
    assert sections["action_items"][0]["owner"] == "Ben"
