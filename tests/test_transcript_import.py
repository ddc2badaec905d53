"""Transcripts in: WebVTT, SRT and plain text, with speakers, through the real `earmark` command."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from realparts import earmark, earmark_json

from daemon.core.errors import ImportFailed
from daemon.transcribe.transcript_formats import Cue, read_transcript, split_cue

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
    from daemon.storage.store import Store

    (earmark_home / "data").mkdir(parents=True)
    store = Store(earmark_home / "data" / "earmark.db")
    store.forgotten.remember(START + 4.0, START + 13.0, START + 20)
    store.close()
    path = write(tmp_path, "meeting.vtt", MEETING_VTT)
    result = imported(path, "--at", AT, "--json")
    [report] = json.loads(result.stdout)
    assert report["left_out"] == 4 and report["utterances"] == 2
    texts = [t["text"] for t in earmark_json("transcripts", "--profile", "meetings")]
    assert not any("rubber" in t for t in texts)


# -- what a careless or hostile file does ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "header.vtt",
            "WEBVTT\n00:00:01.000 --> 00:00:02.000\n<v Ann>first\n",
            ":2: a cue timing inside the WEBVTT header",
        ),
        (
            "glued.srt",
            "1\n00:00:01,000 --> 00:00:02,000\nAnn: hi\n"
            "2\n00:00:03,000 --> 00:00:04,000\nBob: yo\n",
            ":5: a cue timing inside a cue's text",
        ),
        ("page.vtt", "<html><body>404 Not Found</body></html>\n", ":1: expected 'WEBVTT'"),
        (
            "hours.vtt",
            "WEBVTT\n\n" + "9" * 400 + ":00:00.000 --> " + "9" * 400 + ":00:04.000\nhi\n",
            ":3: '" + "9" * 40,
        ),
        (
            "name.vtt",
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v " + "A" * 200 + ">hi\n",
            ":3: a speaker's name of 200 characters",
        ),
        (
            "utf16.txt",
            "\ufeffAnn: hello".encode("utf-16-le")[:-1] + b"\xd8",
            ":1: is not UTF-16 text",
        ),
    ],
)
def test_a_careless_file_is_refused_not_misread(tmp_path, name, content, expected):
    path = write(tmp_path, name, content)
    with pytest.raises(ImportFailed, match=re.escape(expected)):
        read_transcript(path)


def test_what_is_no_name_does_not_name_a_speaker(tmp_path):
    text = "Maria: Here's the plan.\nfirst thing: we ship on Friday\nBob: Sounds good.\n"
    assert [c.speaker for c in read_transcript(write(tmp_path, "p.txt", text))] == [
        "Maria",
        "Maria",
        "Bob",
    ]
    vtt = (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Ann\n# Heading\n- [x] evil>hello world\n\n"
        "00:00:03.000 --> 00:00:04.000\n<v Bo\u2028b &amp; Co>fine\u0085\n"
    )
    first, second = read_transcript(write(tmp_path, "n.vtt", vtt))
    assert (first.speaker, first.text) == (None, "hello world")
    assert (second.speaker, second.text) == ("Bob & Co", "fine")


def test_what_a_writer_may_do_is_read(tmp_path):
    stamped = read_transcript(write(tmp_path, "long.txt", "[61:30] Ann: An hour in.\n"))
    assert stamped[0].start == 3690.0
    named = "WEBVTT\n\n10:30 standup\n00:00:01.000 --> 00:00:02.000\nAnn: hi\n"
    assert [c.text for c in read_transcript(write(tmp_path, "id.vtt", named))] == ["hi"]
    year = read_transcript(write(tmp_path, "year.txt", "2026\nAnn: A year of work.\n"))
    assert [c.text for c in year] == ["2026", "A year of work."]


def test_reading_takes_time_in_proportion_to_the_file(tmp_path):
    import time

    def took(lines: int, tags: int, word: int) -> float:
        text = "".join(f"Ann: line {n} of the meeting\n" for n in range(lines))
        path = write(tmp_path, f"{lines}.txt", text + "Bo: " + "<b" * tags + "x" * word + "\n")
        started = time.perf_counter()
        read_transcript(path)
        split_cue(Cue(0.0, 600.0, " ".join(["word"] * lines), None, 1), 28.0)
        return time.perf_counter() - started

    took(2_000, 500, 500)
    small, large = took(5_000, 2_000, 10_000), took(40_000, 16_000, 80_000)
    assert large < 20 * small  # eight times the file: not sixty-four times the work


@pytest.mark.integration
def test_a_transcript_dated_beyond_any_calendar_keeps_nothing_and_breaks_nothing(
    tmp_path, earmark_home
):
    good = write(tmp_path, "meeting.vtt", MEETING_VTT)
    late = write(tmp_path, "late.vtt", "WEBVTT\n\n02:00:00.000 --> 02:00:04.000\n<v A>hi\n")
    result = imported(late, "--at", "9999-12-31T23:59")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "would be filed outside 1970 to 2100" in result.stderr
    assert stored_utterances(earmark_home) == 0
    far = earmark("import", str(late), "--profile", "meetings", "--at", "0001-01-01T00:00")
    assert far.returncode == 1 and "Traceback" not in far.stderr
    assert imported(good, "--at", AT).returncode == 0  # the profile still works
    assert earmark_json("search", "rubber", "--profile", "meetings")


@pytest.mark.integration
def test_a_fifo_or_a_device_is_refused_at_once(tmp_path, earmark_home):
    fifo = tmp_path / "pipe.vtt"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.srt"
    zero.symlink_to("/dev/zero")
    for path in (fifo, zero):
        result = earmark("import", str(path), "--profile", "meetings", timeout=30)
        assert result.returncode == 1
        assert (
            result.stderr.strip()
            == f"earmark: {path}: is not a regular file; expected a transcript"
        )


@pytest.mark.integration
def test_a_number_in_a_long_cue_is_hidden_before_the_cue_is_cut(tmp_path, earmark_home):
    words = " ".join(["word"] * 10)
    vtt = (
        "WEBVTT\n\n00:00:00.000 --> 00:01:30.000\n<v ann@example.com>"
        f"{words} reach the office at 555 123 4567 any time and the desk at 555 987 6543 thanks\n"
    )
    path = write(tmp_path, "long.vtt", vtt)
    assert imported(path, "--at", AT).returncode == 0
    said = earmark_json("transcripts", "--profile", "meetings")
    assert len(said) >= 3  # cut into segments of at most 28 s
    assert not any(re.search(r"\d{3}", s["text"]) for s in said), said
    assert {s["speaker"] for s in said} == {"[email]"}


@pytest.mark.integration
def test_the_same_transcript_saved_another_way_is_the_same_transcript(tmp_path, earmark_home):
    assert imported(write(tmp_path, "a.vtt", MEETING_VTT), "--at", AT).returncode == 0
    windows = write(tmp_path, "b.vtt", MEETING_VTT.replace("\n", "\r\n") + "\r\n\r\n")
    utf16 = write(tmp_path, "c.vtt", "\ufeff".encode("utf-16-le") + MEETING_VTT.encode("utf-16-le"))
    for path in (windows, utf16):
        again = imported(path, "--at", AT)
        assert "already imported into meetings" in again.stdout
    assert stored_utterances(earmark_home) == 6


@pytest.mark.integration
def test_a_file_name_that_is_not_utf8_is_no_trouble(tmp_path, earmark_home):
    path = Path(os.fsdecode(os.fsencode(str(tmp_path)) + b"/caf\xe9.vtt"))
    path.write_text(MEETING_VTT)
    result = imported(path, "--at", AT)
    assert result.returncode == 0, result.stderr
    [first] = earmark_json("transcripts", "--profile", "meetings")[:1]
    assert first["source"] == "file:caf\ufffd.vtt"


@pytest.mark.integration
def test_more_cues_than_days_of_talk_are_refused(tmp_path, earmark_home):
    cues = "".join(
        f"{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000 --> "
        f"{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}.500\nhi\n\n"
        for n in range(100_001)
    )
    path = write(tmp_path, "days.vtt", "WEBVTT\n\n" + cues)
    result = imported(path, "--at", AT)
    assert result.returncode == 1
    assert "has more than 100,000 cues" in result.stderr
    assert stored_utterances(earmark_home) == 0
