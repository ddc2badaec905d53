"""Transcripts as other programs write them: WebVTT, SRT and plain `Name: words` text.

`read_transcript` turns a file into `Cue`s (times from the transcript's start, text, speaker)
or raises `ImportFailed` with one sentence that names the file and the line that broke it, so a
file is either read whole or not at all.

- WebVTT (what Zoom, Teams and Meet export): cues with `HH:MM:SS.mmm --> HH:MM:SS.mmm` timings;
  the speaker from a voice tag (`<v Maria>`) or, when most cues start that way, a `Maria: `
  prefix (Zoom). Other tags, NOTE, STYLE and REGION blocks are left out.
- SRT: numbered cues with `HH:MM:SS,mmm --> HH:MM:SS,mmm`; speakers as `Name: ` prefixes.
- Plain text: one turn per line, `Name: words`, each optionally stamped `[HH:MM:SS]` (or
  `[MM:SS]`) at the start; a line without a name goes on with the speaker before it. A line
  without a stamp follows the one before at a speaking pace of 150 words a minute.
"""

from __future__ import annotations

import codecs
import html
import re
from dataclasses import dataclass
from pathlib import Path

from daemon.errors import ImportFailed

__all__ = ["Cue", "TRANSCRIPT_SUFFIXES", "is_transcript", "read_transcript", "split_cue"]

TRANSCRIPT_SUFFIXES = (".vtt", ".srt", ".txt")
_WORD_S = 0.4  # a plain-text line without a stamp lasts this long per word
_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Cue:
    """One stretch of a transcript: times in seconds from its start."""

    start: float
    end: float
    text: str
    speaker: str | None
    line: int  # where it starts in the file, for messages


def is_transcript(path: Path) -> bool:
    """Whether a file given to `earmark import` is a transcript rather than a recording."""
    if path.suffix.lower() in TRANSCRIPT_SUFFIXES:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return False
    return head.removeprefix(codecs.BOM_UTF8).startswith(b"WEBVTT")


def read_transcript(path: Path) -> list[Cue]:
    """The cues of a transcript file, in time order; ImportFailed names what is wrong."""
    lines = _lines(path)
    first = next((ln for ln in lines if ln.strip()), "")
    if first.startswith("WEBVTT"):
        cues = _webvtt(path, lines)
        kind = "WebVTT cues (00:00:01.000 --> 00:00:04.000, then the words)"
    elif path.suffix.lower() == ".srt" or _TIMING.search(first) or first.strip().isdigit():
        cues = _srt(path, lines)
        kind = "SRT cues (a number, 00:00:01,000 --> 00:00:04,000, then the words)"
    else:
        cues = _plain(path, lines)
        kind = "lines of 'Name: words'"
    if not cues:
        raise ImportFailed(f"{path}:{len(lines) or 1}: the transcript has no cues; expected {kind}")
    return cues


def split_cue(cue: Cue, limit_s: float) -> list[Cue]:
    """A cue longer than `limit_s` as consecutive pieces no longer than that: whole sentences
    where they fit, a long sentence cut between words; timed by their share of the text."""
    duration = cue.end - cue.start
    if duration <= limit_s:
        return [cue]
    text = " ".join(cue.text.split())
    total = len(text) + 1  # each piece's share: its characters and the space after it
    max_chars = max(1, int(limit_s * total / duration) - 1)
    units: list[str] = []  # sentences, and the parts of a sentence too long for one piece
    for sentence in re.split(r"(?<=[.!?]) ", text):
        chunk: list[str] = []
        for word in sentence.split(" "):
            if chunk and len(" ".join([*chunk, word])) > max_chars:
                units.append(" ".join(chunk))
                chunk = []
            chunk.append(word)
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


# -- reading the file -----------------------------------------------------------------------------


def _lines(path: Path) -> list[str]:
    if not path.exists():
        raise ImportFailed(f"{path}: no such file")
    if path.is_dir():
        raise ImportFailed(f"{path}: is a directory, expected a transcript or a recording")
    if path.stat().st_size > _MAX_BYTES:
        raise ImportFailed(f"{path}: is larger than 64 MB; expected a transcript")
    raw = path.read_bytes()
    if not raw.strip():
        raise ImportFailed(f"{path}:1: the transcript is empty")
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
        if b"\0" in raw:
            line = raw[: raw.index(b"\0")].count(b"\n") + 1
            raise ImportFailed(
                f"{path}:{line}: holds binary data, not text; expected a transcript "
                "(WebVTT, SRT or plain text)"
            )
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ImportFailed(
            f"{path}:{line}: is not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
            "save the transcript as UTF-8"
        ) from None
    if any(ord(c) < 32 and c not in "\t\n\r\f" for c in text):
        bad = next(i for i, c in enumerate(text) if ord(c) < 32 and c not in "\t\n\r\f")
        raise ImportFailed(
            f"{path}:{text[:bad].count(chr(10)) + 1}: holds control characters, not text; "
            "expected a transcript (WebVTT, SRT or plain text)"
        )
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


# -- times -------------------------------------------------------------------------------------

# seconds may read 60 where a writer rounded 59.9996 up (it means the next minute)
_STAMP = r"(?:(\d+):)?([0-5]?\d):([0-5]\d|60)(?:[.,](\d{1,3}))?"
_TIMING = re.compile(rf"^\s*{_STAMP}\s*-->\s*{_STAMP}(?:\s+.*)?$")
# a line meant as a timing, even a broken one (a cue's identifier before it is any other line)
_SEEMS_TIMING = re.compile(r"^\s*(?:\d+:)+\d|.*-->")


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
            f"{path}:{number}: {line.strip()[:60]!r} is not a cue timing; expected {expected}"
        )
    start, end = _seconds(*m.groups()[:4]), _seconds(*m.groups()[4:])
    if end < start:
        raise ImportFailed(
            f"{path}:{number}: the cue ends ({_clock(end)}) before it starts ({_clock(start)})"
        )
    return start, end


def _in_order(path: Path, cues: list[Cue]) -> list[Cue]:
    """Cues must follow one another: one that starts before the one before it ends is refused."""
    for before, cue in zip(cues, cues[1:], strict=False):
        if cue.start < before.end - 0.001:
            raise ImportFailed(
                f"{path}:{cue.line}: the cue starts at {_clock(cue.start)}, before the cue at "
                f"line {before.line} ends ({_clock(before.end)}); expected cues one after another"
            )
    return cues


# -- speakers ------------------------------------------------------------------------------------

_NAME_PREFIX = re.compile(r"^(?P<name>[A-Z][\w'.-]*(?: [A-Z][\w'.-]*){0,3}): (?P<rest>\S.*)$", re.S)
_TAGS = re.compile(r"</?[a-zA-Z][^>]*>|<\d[\d:.]*>")


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(_TAGS.sub("", text))).strip()


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

_VOICE = re.compile(r"<v(?:\.[\w.-]+)?[ \t]+([^>]+)>", re.I)
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
        raise ImportFailed(f"{path}:{header_line}: expected 'WEBVTT' alone on the first line")
    cues: list[Cue] = []
    for number, block in blocks[1:]:
        if re.match(r"^(?:NOTE|STYLE|REGION)(?:[ \t]|$)", block[0]):
            continue
        timing_at = 1 if len(block) > 1 and not _SEEMS_TIMING.match(block[0]) else 0
        start, end = _timing(path, number + timing_at, block[timing_at], _VTT_TIMING)
        cues += _voices(start, end, "\n".join(block[timing_at + 1 :]), number + timing_at)
    return _in_order(path, _named_by_prefix(cues))


def _voices(start: float, end: float, payload: str, line: int) -> list[Cue]:
    """A cue's payload, one cue per voice when several speak in it, timed by share of text."""
    marks = list(_VOICE.finditer(payload))
    if not marks:
        text = _clean(payload)
        return [Cue(start, end, text, None, line)] if text else []
    spans = []
    if _clean(payload[: marks[0].start()]):
        spans.append((None, payload[: marks[0].start()]))
    for mark, after in zip(marks, [*marks[1:], None], strict=True):
        spans.append((mark[1].strip(), payload[mark.end() : after.start() if after else None]))
    spans = [(who, _clean(text)) for who, text in spans if _clean(text)]
    total = sum(len(text) for _, text in spans) or 1
    cues, at = [], start
    for who, text in spans:
        until = at + (end - start) * len(text) / total
        cues.append(Cue(at, until, text, who or None, line))
        at = until
    return cues


# -- SRT -----------------------------------------------------------------------------------------


def _srt(path: Path, lines: list[str]) -> list[Cue]:
    cues: list[Cue] = []
    for number, block in _blocks(lines):
        timing_at = 1 if len(block) > 1 and not _SEEMS_TIMING.match(block[0]) else 0
        start, end = _timing(
            path, number + timing_at, block[timing_at], "HH:MM:SS,mmm --> HH:MM:SS,mmm"
        )
        text = _clean(" ".join(block[timing_at + 1 :]))
        if text:
            cues.append(Cue(start, end, text, None, number + timing_at))
    return _in_order(path, _named_by_prefix(cues))


# -- plain text ------------------------------------------------------------------------------------

_LINE_STAMP = re.compile(rf"^\s*\[{_STAMP}\]\s*")
_SPEAKER = re.compile(r"^(?P<name>[^\s:\[\]][^:\[\]]{0,39}?):\s+(?P<rest>\S.*)$")


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
                f"{path}:{number}: {line.strip()[:30]!r} is not a time stamp; "
                "expected [HH:MM:SS] or [MM:SS] at the start of the line"
            )
        named = _SPEAKER.match(line.strip())
        if named and len(named["name"].split()) <= 4:
            speaker, line = named["name"].strip(), named["rest"]
        text = _clean(line)
        if text:
            turns.append((at, speaker, text, number))
    cues: list[Cue] = []
    for i, (at, who, text, number) in enumerate(turns):
        start = at if at is not None else (cues[-1].end if cues else 0.0)
        if cues and start < cues[-1].start:
            raise ImportFailed(
                f"{path}:{number}: [{_clock(start)[:8]}] is earlier than the line before it "
                f"(line {cues[-1].line}); expected times in order"
            )
        end = start + len(text.split()) * _WORD_S
        following = next((t[0] for t in turns[i + 1 :] if t[0] is not None), None)
        if following is not None and following >= start:
            end = min(end, following)
        if cues and cues[-1].end > start:  # the line before runs up to this one's stamp
            last = cues[-1]
            cues[-1] = Cue(last.start, max(last.start, start), last.text, last.speaker, last.line)
        cues.append(Cue(start, max(end, start + 0.1), text, who, number))
    return cues
