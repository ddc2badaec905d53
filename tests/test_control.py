"""Toggle, pause, resume, profile use and forget, from the CLI through the running daemon."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from realparts import earmark, earmark_json, needs_root, wait_for_hits

pytestmark = pytest.mark.integration

WORK_PROFILE = """\
description: Work conversations.
sources: [microphone]
"""


def ledger_gaps(env) -> set[str]:
    rows = earmark_json("ledger", "--since", "1h", env=env)
    return {reason for row in rows for reason in row["gaps"]}


def test_toggle_pause_resume_survive_restart_and_are_in_the_ledger(pulse, daemon_factory, speak):
    env = pulse.env
    daemon = daemon_factory()
    daemon.wait_recording()

    off = earmark("toggle", env=env)
    assert off.returncode == 0 and off.stdout.strip() == "earmark: recording off (profile default)"
    pulse.play(speak("This budget sentence is spoken while recording is off."))
    time.sleep(2)
    status = daemon.status()
    assert status["state"] == "recording off" and status["recording"] is False
    assert status["utterances_heard"] == 0  # nothing was heard, so nothing can leak

    assert earmark("toggle", env=env).stdout.strip() == "earmark: recording (profile default)"
    daemon.wait_for(lambda s: s["source_state"] == "listening", what="the microphone again")
    time.sleep(1)
    pulse.play(speak("The concert starts at eight."))
    wait_for_hits("concert", 1, env=env)

    paused = earmark("pause", "--for", "3s", env=env)
    assert paused.returncode == 0 and "paused until" in paused.stdout
    daemon.wait_for(lambda s: s["state"] == "recording", timeout=15, what="the pause to end")

    assert earmark("pause", env=env).stdout.strip() == (
        "earmark: paused until resumed (profile default)"
    )
    assert daemon.stop() == 0
    again = daemon_factory()
    again.wait_for(lambda s: s["state"] == "paused until resumed", what="the pause to survive")
    resumed = earmark("resume", env=env)
    assert resumed.returncode == 0 and "paused" not in resumed.stdout
    again.wait_recording()

    gaps = ledger_gaps(env)
    assert "recording off" in gaps and "paused until resumed" in gaps
    assert any(g.startswith("paused until ") and g != "paused until resumed" for g in gaps)
    assert earmark_json("search", "budget", env=env) == []  # spoken while off: never stored


def test_profile_use_files_speech_under_the_new_profile(pulse, daemon_factory, speak, earmark_home):
    env = pulse.env
    profiles = earmark_home / "config" / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "work.yaml").write_text(WORK_PROFILE)
    daemon = daemon_factory()
    daemon.wait_recording()

    used = earmark("profile", "use", "work", env=env)
    assert used.returncode == 0 and used.stdout.strip() == (
        "earmark: now filing what is heard under work"
    )
    assert daemon.status()["profile"] == "work"
    pulse.play(speak("The pruning experiment failed again."))
    hits = wait_for_hits("experiment", 1, env=env, args=("--profile", "work"))
    assert hits[0]["profile"] == "work"
    assert earmark_json("search", "experiment", "--profile", "default", env=env) == []

    missing = earmark("profile", "use", "nonesuch", env=env)
    assert missing.returncode == 1 and "nonesuch" in missing.stderr
    assert daemon.status()["profile"] == "work"
    daemon.stop()
    restarted = daemon_factory()
    assert restarted.wait_recording()["profile"] == "work"  # the choice is kept
    restarted.stop()
    (profiles / "work.yaml").unlink()  # a profile deleted while Earmark was stopped
    again = daemon_factory()
    assert again.wait_recording()["profile"] == "default"
    assert len(earmark_json("search", "experiment", "--all", env=env)) == 1  # its words stay


def test_forget_the_last_minutes_removes_transcripts_and_search_hits(pulse, daemon_factory, speak):
    env = pulse.env
    daemon = daemon_factory()
    daemon.wait_recording()
    pulse.play(speak("The morning forecast looks grim."))
    wait_for_hits("forecast", 1, env=env)

    refused = earmark("forget", "--last", "5m", env=env)  # no terminal to confirm on
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "earmark: forget --last 5m: add --yes to confirm (no terminal)"
    )
    forgot = earmark("forget", "--last", "5m", "--yes", env=env)
    assert forgot.returncode == 0, forgot.stderr
    assert forgot.stdout.strip() == "forgot 1 utterance heard in the last 5m"
    assert earmark_json("search", "forecast", env=env) == []
    assert earmark_json("transcripts", env=env) == []

    pulse.play(speak("The concert starts at eight."))  # what comes after is kept
    wait_for_hits("concert", 1, env=env)
    daemon.stop()
    offline = earmark("forget", "--last", "1h", "--yes", env=env)  # works without the daemon too
    assert offline.returncode == 0 and offline.stdout.startswith("forgot 1 utterance")
    assert earmark_json("search", "concert", env=env) == []


def test_control_commands_need_a_daemon_and_readable_input():
    for args in (["toggle"], ["pause"], ["resume"]):
        result = earmark(*args)
        assert result.returncode == 1
        assert result.stderr.strip() == (
            "earmark: no Earmark daemon is running (start one with `earmark run`)"
        )
    bad = earmark("pause", "--for", "soon")
    assert bad.returncode == 1 and bad.stderr.strip() == (
        "earmark: --for 'soon' is not a length of time: expected a number and a unit such as "
        "90s, 15m, 1h or 2d"
    )
    assert "Traceback" not in bad.stderr
    later = earmark("profile", "use", "default")  # no daemon: kept for the next start
    assert later.stdout.strip() == "earmark: not running; default will be used when it starts"


def test_another_user_cannot_reach_the_control_endpoint(pulse, daemon_factory, tmp_path):
    needs_root("running a process as another user")
    assert os.path.exists("/usr/bin/python3"), "the other user runs the system's python3"
    open_parent = tempfile.mkdtemp(prefix="earmark-perm-")
    try:
        os.chmod(open_parent, 0o755)  # only Earmark's own permissions stand in the way
        home = Path(open_parent) / "home"
        daemon = daemon_factory(env={"EARMARK_HOME": str(home)})
        daemon.wait_recording()
        sock = home / "run" / "control.sock"
        probe = (
            "import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "try:\n"
            f"    s.connect({str(sock)!r})\n"
            "except PermissionError:\n"
            "    sys.exit(3)\n"
        )
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

        def probe_as_nobody() -> int:
            return subprocess.run([*as_nobody, "/usr/bin/python3", "-c", probe]).returncode

        assert probe_as_nobody() == 3  # the run folder is 0700
        sock.parent.chmod(0o755)
        assert probe_as_nobody() == 3  # and the socket itself is 0600
        assert daemon.status()["state"] == "recording"  # the daemon is unharmed
    finally:
        shutil.rmtree(open_parent, ignore_errors=True)
