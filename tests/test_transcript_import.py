"""Transcripts in: WebVTT, SRT and plain text, with speakers, through the real `earmark` command."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from realparts import earmark, earmark_json

from daemon.errors import ImportFailed
from daemon.transcript_formats import Cue, read_transcript, split_cue

AT = "2026-03-02T09:00:00"
START = datetime.fromisoformat(AT).timestamp()

MEETING_VTT = """WEBVTT
Kind: captions

NOTE exported by a meeting app

1
00:00:01.000 --> 00:00:04.500
<v Maria Lopez>Thanks for joining. Today we pick the case material.</v>

2
00:00:05.000 --> 00:00:09.000
<v Tom>I think rubber feels better than plastic in the hand.

3
00:00:09.500 --> 00:00:12.000
<v Maria Lopez>Okay, so we'll go with rubber for the case.</v>

4
00:00:12.000 --> 00:00:14.000
<v Tom>Yeah, sounds good.</v>

5
00:00:15.000 --> 00:00:19.000
<v Tom>I'll send the updated drawings to the factory by Friday.</v>

6
00:00:19.500 --> 00:00:23.000
<v Maria Lopez>You can reach me at maria.lopez@example.com with the quote.</v>
"""


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def imported(path: Path, *args: str, profile: str = "meetings"):
    return earmark("import", str(path), "--profile", profile, *args)


def stored_utterances(home: Path) -> int:
    database = home / "data" / "earmark.db"
    if not database.exists():
        return 0
    with sqlite3.connect(database) as db:
        return db.execute("SELECT COUNT(*) FROM utterances").fetchone()[0]


# -- the formats --------------------------------------------------------------------------------


def test_webvtt_cues_keep_their_times_and_voices(tmp_path):
    cues = read_transcript(write(tmp_path, "m.vtt", MEETING_VTT))
    assert [c.speaker for c in cues] == [
        "Maria Lopez",
        "Tom",
        "Maria Lopez",
        "Tom",
        "Tom",
        "Maria Lopez",
    ]
    assert (cues[0].start, cues[0].end) == (1.0, 4.5)
    assert cues[1].text == "I think rubber feels better than plastic in the hand."


def test_two_voices_in_one_cue_share_its_time(tmp_path):
    vtt = "WEBVTT\n\n00:01.000 --> 00:05.000\n<v Ann>Yes.</v> <v Bo>No, not that one.</v>\n"
    first, second = read_transcript(write(tmp_path, "v.vtt", vtt))
    assert (first.speaker, second.speaker) == ("Ann", "Bo")
    assert first.start == 1.0 and first.end == second.start < second.end == 5.0


def test_zoom_names_its_speakers_in_the_text(tmp_path):
    vtt = (
        "WEBVTT\n\n1\n00:00:00.000 --> 00:00:02.000\nPriya Shah: Can everyone hear me?\n\n"
        "2\n00:00:02.500 --> 00:00:05.000\nSam: Yes, loud and clear.\n"
    )
    cues = read_transcript(write(tmp_path, "zoom.vtt", vtt))
    assert [(c.speaker, c.text) for c in cues] == [
        ("Priya Shah", "Can everyone hear me?"),
        ("Sam", "Yes, loud and clear."),
    ]


def test_srt_and_plain_text(tmp_path):
    srt = (
        "1\n00:00:01,000 --> 00:00:03,000\nAna: Hello there.\n\n"
        "2\n00:00:03,500 --> 00:00:06,000\nBen: Hi, Ana.\n"
    )
    cues = read_transcript(write(tmp_path, "s.srt", srt))
    assert [(c.speaker, c.start, c.text) for c in cues] == [
        ("Ana", 1.0, "Hello there."),
        ("Ben", 3.5, "Hi, Ana."),
    ]
    text = (
        "[00:00:05] Ana: We start with the budget.\nand then the hiring plan.\n"
        "[01:02] Ben: Agreed.\n"
    )
    ana, more, ben = read_transcript(write(tmp_path, "t.txt", text))
    assert (ana.speaker, ana.start) == ("Ana", 5.0)
    assert more.speaker == "Ana" and ana.end <= more.start < ben.start == 62.0


def test_a_cue_longer_than_a_segment_is_split_not_dropped():
    words = " ".join(f"word{i}." for i in range(120))
    pieces = split_cue(Cue(10.0, 100.0, words, "Ann", 3), 28.0)
    assert len(pieces) == 4 and all(p.end - p.start <= 28.0 + 1e-9 for p in pieces)
    assert " ".join(p.text for p in pieces) == words
    assert pieces[0].start == 10.0 and pieces[-1].end == 100.0


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.vtt", "WEBVTT\n\nNOTE nothing said\n", ":4: the transcript has no cues"),
        ("blank.srt", "\n\n  \n", ":1: the transcript is empty"),
        (
            "broken.vtt",
            "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\nfine\n\n00:00:05,5 -> 00:00:07.000\nbad\n",
            ":6: '00:00:05,5 -> 00:00:07.000' is not a cue timing",
        ),
        (
            "backwards.vtt",
            "WEBVTT\n\n00:00:08.000 --> 00:00:04.000\nbackwards\n",
            ":3: the cue ends (00:00:04.000) before it starts (00:00:08.000)",
        ),
        (
            "overlap.vtt",
            "WEBVTT\n\n00:00:01.000 --> 00:00:06.000\none\n\n00:00:05.000 --> 00:00:07.000\ntwo\n",
            ":6: the cue starts at 00:00:05.000, before the cue at line 3 ends",
        ),
        (
            "latin1.vtt",
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nJosé said so\n".encode("latin-1"),
            ":4: is not UTF-8 text (byte 0xe9)",
        ),
        (
            "binary.srt",
            b"1\n00:00:01,000 --> 00:00:02,000\n\x00\x01\x02PK",
            ":3: holds binary data",
        ),
        (
            "stamps.txt",
            "[00:01:00] Ann: Later.\n[00:00:30] Bo: Earlier.\n",
            ":2: [00:00:30] is earlier than the line before it",
        ),
    ],
)
def test_a_bad_transcript_is_named_with_the_line_that_broke_it(tmp_path, name, content, expected):
    path = write(tmp_path, name, content)
    with pytest.raises(ImportFailed) as failure:
        read_transcript(path)
    message = str(failure.value)
    assert message.startswith(str(path)) and expected in message
    assert "\n" not in message


# -- through the command -------------------------------------------------------------------------


@pytest.mark.integration
def test_an_imported_meeting_is_searchable_by_speaker_and_exported_with_its_speakers(
    tmp_path, earmark_home
):
    path = write(tmp_path, "meeting.vtt", MEETING_VTT)
    result = imported(path, "--at", AT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"{path}: 6 turns by 2 speakers, 0.4 min from 2026-03-02 09:00"
    )

    transcripts = earmark_json("transcripts", "--profile", "meetings", "--since", "2026-03-02")
    assert [t["speaker"] for t in transcripts][:2] == ["Maria Lopez", "Tom"]
    first = datetime.fromisoformat(transcripts[0]["start"]).timestamp()
    assert first == START + 1.0  # anchored by --at
    assert transcripts[0]["source"] == "file:meeting.vtt"
    # redacted like heard speech
    assert all("@" not in t["text"] for t in transcripts)
    assert any("[email]" in t["text"] for t in transcripts)
    text = earmark("transcripts", "--profile", "meetings", "--since", "2026-03-02").stdout
    assert "  Tom: I think rubber feels better" in text

    hits = earmark_json("search", "speaker:tom", "rubber", "--profile", "meetings")
    assert [h["speaker"] for h in hits] == ["Tom"] and "rubber" in hits[0]["text"]
    assert earmark_json("search", 'speaker:"maria lopez"', "rubber", "--profile", "meetings")
    assert earmark_json("search", "speaker:maria", "plastic", "--profile", "meetings") == []

    export = json.loads(
        earmark(
            "export", "--profile", "meetings", "--since", AT, "--until", "2026-03-02T10:00",
            "--format", "json", "-o", "-",
        ).stdout
    )  # fmt: skip
    [conversation] = export["conversations"]
    assert [s["name"] for s in conversation["speakers"]] == ["Maria Lopez", "Tom"]
    sections = {s["name"]: s["items"] for s in conversation["sections"]}
    [decision] = sections["decisions"]
    assert "go with rubber" in decision["text"] and decision["speaker"] == "Maria Lopez"
    assert decision["agreed_by"] == ["Tom"]
    [action] = sections["action_items"]
    assert action["owner"] == "Tom" and action["due"] == "2026-03-06"
    assert action["at"].startswith("2026-03-02T09:00:15")


@pytest.mark.integration
def test_a_transcript_imported_twice_is_stored_once(tmp_path, earmark_home):
    path = write(tmp_path, "meeting.vtt", MEETING_VTT)
    assert imported(path, "--at", AT).returncode == 0
    again = imported(path, "--at", "2026-03-05T10:00")
    assert again.returncode == 0
    assert again.stdout.strip() == (
        f"{path}: already imported into meetings (it starts 2026-03-02 09:00); nothing stored again"
    )
    assert stored_utterances(earmark_home) == 6
    # into another profile it is another profile's record
    assert imported(path, "--at", AT, profile="default").returncode == 0
    assert stored_utterances(earmark_home) == 12


@pytest.mark.integration
def test_without_at_a_transcript_ends_when_its_file_was_written(tmp_path, earmark_home):
    path = write(tmp_path, "meeting.vtt", MEETING_VTT)
    written = START + 3600
    os.utime(path, (written, written))
    assert imported(path).returncode == 0
    [last] = earmark_json("transcripts", "--profile", "meetings", "--since", "2026-03-02")[-1:]
    assert abs(datetime.fromisoformat(last["end"]).timestamp() - written) < 0.01


@pytest.mark.integration
def test_a_malformed_transcript_keeps_nothing_and_says_where(tmp_path, earmark_home):
    broken = MEETING_VTT.replace("00:00:15.000 --> 00:00:19.000", "00:00:15.000 --> 00:00:1x.000")
    path = write(tmp_path, "meeting.vtt", broken)
    result = imported(path, "--at", AT)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"earmark: {path}:23: '00:00:15.000 --> 00:00:1x.000' is not a cue timing; "
        "expected HH:MM:SS.mmm --> HH:MM:SS.mmm"
    )
    assert "Traceback" not in result.stderr
    assert stored_utterances(earmark_home) == 0


@pytest.mark.integration
def test_a_transcript_of_random_bytes_keeps_nothing(tmp_path, earmark_home):
    path = write(tmp_path, "notes.txt", os.urandom(4096))
    result = imported(path, "--at", AT)
    assert result.returncode == 1
    assert result.stderr.startswith(f"earmark: {path}:") and result.stderr.count("\n") == 1
    assert "binary data" in result.stderr or "not UTF-8" in result.stderr
    assert stored_utterances(earmark_home) == 0


@pytest.mark.integration
def test_speech_in_a_span_the_user_asked_to_forget_is_left_out(tmp_path, earmark_home):
    from daemon.store import Store

    (earmark_home / "data").mkdir(parents=True)
    store = Store(earmark_home / "data" / "earmark.db")
    store.remember_forgotten(START + 4.0, START + 13.0, START + 20)
    store.close()
    path = write(tmp_path, "meeting.vtt", MEETING_VTT)
    result = imported(path, "--at", AT, "--json")
    [report] = json.loads(result.stdout)
    assert report["left_out"] == 4 and report["utterances"] == 2
    texts = [t["text"] for t in earmark_json("transcripts", "--profile", "meetings")]
    assert not any("rubber" in t for t in texts)
