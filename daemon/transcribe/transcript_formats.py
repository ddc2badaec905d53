"""Transcripts as other programs write them: WebVTT, SRT and plain `Name: words` text.

`read_transcript` turns a file's bytes into `Cue`s (times from the transcript's start, text,
speaker) or raises `ImportFailed` with one sentence that names the file and the line that broke
it, so a file is either read whole or not at all. The format is the file's: `.vtt` is WebVTT,
`.srt` is SRT, `.txt` is plain text (a file of another name is WebVTT if it says so).

- WebVTT (what Zoom, Teams and Meet export): a `WEBVTT` line, a blank line, then cues with
  `HH:MM:SS.mmm --> HH:MM:SS.mmm` timings, each block apart; the speaker from a voice tag
  (`<v Maria>`) or, when most cues start that way, a `Maria: ` prefix (Zoom). Other tags, NOTE,
  STYLE and REGION blocks are left out.
- SRT: numbered cues with `HH:MM:SS,mmm --> HH:MM:SS,mmm`; speakers as `Name: ` prefixes.
- Plain text: one turn per line, `Name: words` (a name starts with a capital letter or a digit),
  each optionally stamped `[HH:MM:SS]` (or `[MM:SS]`) at the start; a line without a name goes
  on with the speaker before it. A line without a stamp follows the one before at a speaking pace
  of 150 words a minute.

Reading is linear in the size of the file: no expression here looks back over what it passed.
"""

from __future__ import annotations

import codecs
import html
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from daemon.core.errors import ImportFailed

__all__ = [
    "Cue",
    "TRANSCRIPT_SUFFIXES",
    "is_transcript",
    "read_transcript",
    "read_file",
    "split_cue",
    "shown",
    "normalised",
]

TRANSCRIPT_SUFFIXES = (".vtt", ".srt", ".txt")
_WORD_S = 0.4  # a plain-text line without a stamp lasts this long per word
_MAX_BYTES = 64 * 1024 * 1024
_MAX_CUES = 100_000  # about three days of talk
_MAX_NAME = 100


@dataclass(frozen=True, slots=True)
class Cue:
    """One stretch of a transcript: times in seconds from its start."""

    start: float
    end: float
    text: str
    speaker: str | None
    line: int  # where its timing (or its line) is in the file, for messages


def shown(path: Path) -> str:
    """A path as a message can show it on one line, whatever bytes its name holds."""
    name = str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)


def is_transcript(path: Path) -> bool:
    """Whether a file given to `earmark import` is a transcript rather than a recording."""
    if path.suffix.lower() in TRANSCRIPT_SUFFIXES:
        return True
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return False  # a FIFO or a device: never opened to look
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return False
    return head.removeprefix(codecs.BOM_UTF8).startswith(b"WEBVTT")


def read_file(path: Path) -> bytes:
    """A transcript file's bytes, read once: only a regular file, and no more than 64 MB."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ImportFailed(f"{shown(path)}: no such file") from None
    except OSError as exc:
        raise ImportFailed(f"{shown(path)}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise ImportFailed(f"{shown(path)}: is a directory, expected a transcript or a recording")
    if not stat.S_ISREG(mode):
        raise ImportFailed(f"{shown(path)}: is not a regular file; expected a transcript")
    try:
        with open(path, "rb") as f:
            raw = f.read(_MAX_BYTES + 1)
    except OSError as exc:
        raise ImportFailed(f"{shown(path)}: cannot be read ({exc.strerror or exc})") from None
    if len(raw) > _MAX_BYTES:
        raise ImportFailed(f"{shown(path)}: is larger than 64 MB; expected a transcript")
    return raw


def read_transcript(path: Path, raw: bytes | None = None) -> list[Cue]:
    """The cues of a transcript (its bytes, or the file's), in time order; ImportFailed names
    what is wrong."""
    raw = read_file(path) if raw is None else raw
    lines = _lines(path, raw)
    suffix = path.suffix.lower()
    if suffix == ".srt":
        cues, kind = _srt(path, lines), "SRT cues (a number, 00:00:01,000 --> 00:00:04,000, words)"
    elif suffix == ".txt":
        cues, kind = _plain(path, lines), "lines of 'Name: words'"
    else:
        cues, kind = _webvtt(path, lines), "WebVTT cues (00:00:01.000 --> 00:00:04.000, words)"
    if not cues:
        raise ImportFailed(
            f"{shown(path)}:{len(lines) or 1}: the transcript has no cues; expected {kind}"
        )
    if len(cues) > _MAX_CUES:
        raise ImportFailed(
            f"{shown(path)}:{cues[_MAX_CUES].line}: the transcript has more than "
            f"{_MAX_CUES:,} cues (about three days of talk); split it into smaller files"
        )
    return cues


def normalised(raw: bytes) -> bytes:
    """A transcript's text whatever its encoding, line endings and trailing blanks: the same
    transcript saved two ways is one transcript."""
    text = _decode(Path("-"), raw)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip().encode("utf-8")


def split_cue(cue: Cue, limit_s: float) -> list[Cue]:
    """A cue longer than `limit_s` as consecutive pieces no longer than that: whole sentences
    where they fit, a long sentence cut between words; timed by their share of the text. (A
    piece of one word longer than that stays whole.)"""
    duration = cue.end - cue.start
    if duration <= limit_s:
        return [cue]
    text = " ".join(cue.text.split())
    total = len(text) + 1  # each piece's share: its characters and the space after it
    max_chars = max(1, int(limit_s * total / duration) - 1)
    units: list[str] = []  # sentences, and the parts of a sentence too long for one piece
    for sentence in re.split(r"(?<=[.!?]) ", text):
        chunk: list[str] = []
        length = -1
        for word in sentence.split(" "):
            if chunk and length + 1 + len(word) > max_chars:
                units.append(" ".join(chunk))
                chunk, length = [], -1
            chunk.append(word)
            length += 1 + len(word)
        units.append(" ".join(chunk))
    pieces: list[str] = []
    for unit in units:
        if pieces and len(pieces[-1]) + 1 + len(unit) <= max_chars:
            pieces[-1] += " " + unit
        else:
            pieces.append(unit)
    out, at = [], cue.start
    for n, piece in enumerate(pieces, 1):
        until = cue.end if n == len(pieces) else at + duration * (len(piece) + 1) / total
        out.append(Cue(at, until, piece, cue.speaker, cue.line))
        at = until
    return out


# -- the text -------------------------------------------------------------------------------------


def _decode(path: Path, raw: bytes) -> str:
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding, name = "utf-16", "UTF-16"
    else:
        encoding, name = "utf-8-sig", "UTF-8"
        if b"\0" in raw:
            line = raw[: raw.index(b"\0")].count(b"\n") + 1
            raise ImportFailed(
                f"{shown(path)}:{line}: holds binary data, not text; expected a transcript "
                "(WebVTT, SRT or plain text)"
            )
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ImportFailed(
            f"{shown(path)}:{line}: is not {name} text (byte 0x{raw[exc.start]:02x}); "
            "save the transcript as UTF-8"
        ) from None


def _lines(path: Path, raw: bytes) -> list[str]:
    if not raw.strip():
        raise ImportFailed(f"{shown(path)}:1: the transcript is empty")
    text = _decode(path, raw)
    bad = next((i for i, c in enumerate(text) if ord(c) < 32 and c not in "\t\n\r\f"), None)
    if bad is not None:
        raise ImportFailed(
            f"{shown(path)}:{text[:bad].count(chr(10)) + 1}: holds control characters, not "
            "text; expected a transcript (WebVTT, SRT or plain text)"
        )
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


# -- times ----------------------------------------------------------------------------------------

# hours of up to six digits; minutes past 59 only without hours ([61:30]); seconds may read 60
# where a writer rounded 59.9996 up (it means the next minute)
_STAMP = r"(?:(\d{1,6}):)?(\d{1,3}):([0-5]\d|60)(?:[.,](\d{1,3}))?"
_TIMING = re.compile(rf"^\s*{_STAMP}\s*-->\s*{_STAMP}(?:\s+.*)?$")
# a line meant as a timing, even a broken one ("00:00:05,5 -> 00:00:07"); a cue's identifier
# ("10:30 standup") is any other line
_SEEMS_TIMING = re.compile(r"^\s*[\d:.,]+\s*-+>|.*-->")


def _seconds(hours, minutes, seconds, fraction) -> float:
    return (
        int(hours or 0) * 3600
        + int(minutes) * 60
        + int(seconds)
        + (int(fraction.ljust(3, "0")) / 1000 if fraction else 0.0)
    )


def _clock(seconds: float) -> str:
    minutes, millis = divmod(round(seconds * 1000), 60_000)
    return f"{minutes // 60:02d}:{minutes % 60:02d}:{millis // 1000:02d}.{millis % 1000:03d}"


def _timing(path: Path, number: int, line: str, expected: str) -> tuple[float, float]:
    m = _TIMING.match(line)
    if not m:
        raise ImportFailed(
            f"{shown(path)}:{number}: {line.strip()[:60]!r} is not a cue timing; "
            f"expected {expected}"
        )
    start, end = _seconds(*m.groups()[:4]), _seconds(*m.groups()[4:])
    if end < start:
        raise ImportFailed(
            f"{shown(path)}:{number}: the cue ends ({_clock(end)}) before it starts "
            f"({_clock(start)})"
        )
    return start, end


def _in_order(path: Path, cues: list[Cue]) -> list[Cue]:
    """Cues must follow one another: one that starts before the one before it ends is refused."""
    for before, cue in zip(cues, cues[1:], strict=False):
        if cue.start < before.end - 0.001:
            raise ImportFailed(
                f"{shown(path)}:{cue.line}: the cue starts at {_clock(cue.start)}, before the "
                f"cue at line {before.line} ends ({_clock(before.end)}); expected cues one after "
                "another"
            )
    return cues


# -- text and speakers ----------------------------------------------------------------------------

_NAME_PREFIX = re.compile(r"^(?P<name>[A-Z][\w'.-]*(?: [A-Z][\w'.-]*){0,3}): (?P<rest>\S.*)$", re.S)
# tags stop at the next "<" too, so an unclosed one costs no more than its own length
_TAGS = re.compile(r"</?[a-zA-Z][^<>]*>|<\d[\d:.]*>")
# what is no text: controls (C0 but tab and newline, C1), line and paragraph separators, BOMs,
# zero-width characters
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\ufeff]"
)


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", _INVISIBLE.sub("", html.unescape(_TAGS.sub("", text)))).strip()


def _speaker(path: Path, line: int, name: str) -> str | None:
    """A speaker's name as text on one line; None when nothing is left of it."""
    cleaned = _clean(name)
    if len(cleaned) > _MAX_NAME:
        raise ImportFailed(
            f"{shown(path)}:{line}: a speaker's name of {len(cleaned):,} characters; expected a "
            f"name of at most {_MAX_NAME}"
        )
    return cleaned or None


def _named_by_prefix(cues: list[Cue]) -> list[Cue]:
    """When most cues start with `Name: `, that is their speaker (Zoom, SRT)."""
    unnamed = [c for c in cues if c.speaker is None]
    named = [c for c in unnamed if _NAME_PREFIX.match(c.text)]
    if not unnamed or len(named) * 2 < len(unnamed):
        return cues
    out = []
    for cue in cues:
        m = _NAME_PREFIX.match(cue.text) if cue.speaker is None else None
        out.append(Cue(cue.start, cue.end, m["rest"], m["name"], cue.line) if m else cue)
    return out


# -- WebVTT ------------------------------------------------------------------------------------

_VOICE = re.compile(r"<v(?:\.[\w.-]+)?[ \t]+([^<>\n]+)>", re.I)
_VTT_TIMING = "HH:MM:SS.mmm --> HH:MM:SS.mmm"


def _blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """Runs of non-blank lines, each with the number of its first line."""
    blocks, current, start = [], [], 0
    for number, line in enumerate(lines, 1):
        if line.strip():
            if not current:
                start = number
            current.append(line)
        elif current:
            blocks.append((start, current))
            current = []
    if current:
        blocks.append((start, current))
    return blocks


def _webvtt(path: Path, lines: list[str]) -> list[Cue]:
    blocks = _blocks(lines)
    header_line, header = blocks[0]
    if not re.match(r"^WEBVTT(?:[ \t].*)?$", header[0]):
        raise ImportFailed(
            f"{shown(path)}:{header_line}: expected 'WEBVTT' alone on the first line of a "
            "WebVTT file"
        )
    _no_timing_in(path, header_line, header, "the WEBVTT header; expected a blank line first")
    cues: list[Cue] = []
    for number, block in blocks[1:]:
        if re.match(r"^(?:NOTE|STYLE|REGION)(?:[ \t]|$)", block[0]):
            continue
        at = 1 if len(block) > 1 and not _SEEMS_TIMING.match(block[0]) else 0
        start, end = _timing(path, number + at, block[at], _VTT_TIMING)
        _no_timing_in(path, number + at + 1, block[at + 1 :], "a cue's text")
        cues += _voices(path, start, end, "\n".join(block[at + 1 :]), number + at)
    return _in_order(path, _named_by_prefix(cues))


def _no_timing_in(path: Path, first: int, lines: list[str], where: str) -> None:
    """A timing inside a block means a blank line is missing: refused, not glued together."""
    for number, line in enumerate(lines, first):
        if _SEEMS_TIMING.match(line):
            raise ImportFailed(
                f"{shown(path)}:{number}: a cue timing inside {where}; expected a blank line "
                "before each cue"
            )


def _voices(path: Path, start: float, end: float, payload: str, line: int) -> list[Cue]:
    """A cue's payload, one cue per voice when several speak in it, timed by share of text."""
    marks = list(_VOICE.finditer(payload))
    if not marks:
        text = _clean(payload)
        return [Cue(start, end, text, None, line)] if text else []
    spans = []
    if _clean(payload[: marks[0].start()]):
        spans.append((None, payload[: marks[0].start()]))
    for mark, after in zip(marks, [*marks[1:], None], strict=True):
        spans.append((mark[1], payload[mark.end() : after.start() if after else None]))
    spans = [(who, _clean(text)) for who, text in spans if _clean(text)]
    total = sum(len(text) for _, text in spans) or 1
    cues, at = [], start
    for who, text in spans:
        until = at + (end - start) * len(text) / total
        cues.append(Cue(at, until, text, _speaker(path, line, who) if who else None, line))
        at = until
    return cues


# -- SRT -----------------------------------------------------------------------------------------


def _srt(path: Path, lines: list[str]) -> list[Cue]:
    cues: list[Cue] = []
    for number, block in _blocks(lines):
        at = 1 if len(block) > 1 and not _SEEMS_TIMING.match(block[0]) else 0
        start, end = _timing(path, number + at, block[at], "HH:MM:SS,mmm --> HH:MM:SS,mmm")
        _no_timing_in(path, number + at + 1, block[at + 1 :], "a cue's text")
        text = _clean(" ".join(block[at + 1 :]))
        if text:
            cues.append(Cue(start, end, text, None, number + at))
    return _in_order(path, _named_by_prefix(cues))


# -- plain text -----------------------------------------------------------------------------------

_LINE_STAMP = re.compile(rf"^\s*\[{_STAMP}\]\s*")
_SPEAKER = re.compile(r"^(?P<name>[A-Z0-9][^:\[\]]{0,39}?):\s+(?P<rest>\S.*)$")


def _plain(path: Path, lines: list[str]) -> list[Cue]:
    turns: list[tuple[float | None, str | None, str, int]] = []
    speaker = None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        at = None
        stamp = _LINE_STAMP.match(line)
        if stamp:
            at = _seconds(*stamp.groups())
            line = line[stamp.end() :]
        elif re.match(r"^\s*\[[\d:.,]*\]", line):
            raise ImportFailed(
                f"{shown(path)}:{number}: {line.strip()[:30]!r} is not a time stamp; "
                "expected [HH:MM:SS] or [MM:SS] at the start of the line"
            )
        named = _SPEAKER.match(_clean(line))
        if named and len(named["name"].split()) <= 4:
            speaker, line = _speaker(path, number, named["name"]), named["rest"]
        text = _clean(line)
        if text:
            turns.append((at, speaker, text, number))
    following: list[float | None] = [None] * len(turns)  # the next stamp after each line
    upcoming = None
    for i in range(len(turns) - 1, -1, -1):
        following[i] = upcoming
        if turns[i][0] is not None:
            upcoming = turns[i][0]
    cues: list[Cue] = []
    for i, (at, who, text, number) in enumerate(turns):
        start = at if at is not None else (cues[-1].end if cues else 0.0)
        if cues and start < cues[-1].start:
            raise ImportFailed(
                f"{shown(path)}:{number}: [{_clock(start)[:8]}] is earlier than the line before "
                f"it (line {cues[-1].line}); expected times in order"
            )
        end = start + len(text.split()) * _WORD_S
        if following[i] is not None and following[i] >= start:
            end = min(end, following[i])
        if cues and cues[-1].end > start:  # the line before runs up to this one's stamp
            last = cues[-1]
            cues[-1] = Cue(last.start, max(last.start, start), last.text, last.speaker, last.line)
        cues.append(Cue(start, max(end, start + 0.1), text, who, number))
    return cues
