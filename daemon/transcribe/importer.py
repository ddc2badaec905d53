"""`earmark import`: recordings take the same segmenter, spool and transcriber as live audio;
transcripts (WebVTT, SRT, plain text) enter at the store with their speakers, redacted the same
way, without the model.

A transcript is stored whole in one transaction or not at all, under uids made from its content
and the profile, so importing it again stores nothing twice.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from daemon.capture.segmenter import Segmenter
from daemon.capture.sources.file import IMPORTED, FileSource
from daemon.capture.stage import CaptureStage
from daemon.core.errors import ImportFailed
from daemon.core.paths import Paths
from daemon.core.profiles import Profile, load_profile
from daemon.storage.search import SearchIndex
from daemon.storage.spool import Spool, SpooledUtterance
from daemon.storage.store import Store
from daemon.storage.utterances import NewSegment, NewUtterance
from daemon.transcribe.redaction import redactor_for
from daemon.transcribe.stage import TranscribeStage
from daemon.transcribe.transcript_formats import (
    Cue,
    is_transcript,
    normalised,
    read_file,
    read_transcript,
    shown,
    split_cue,
)

__all__ = ["ImportResult", "import_files"]

log = logging.getLogger(__name__)

_STALL_S = 60.0


@dataclass
class ImportResult:
    """What happened to one file."""

    file: str
    ok: bool
    error: str | None = None
    start: float | None = None
    duration_s: float = 0.0
    utterances: int = 0
    uids: list[str] = field(default_factory=list)
    transcript: bool = False
    speakers: list[str] = field(default_factory=list)
    skipped: str | None = None  # why nothing was stored though the file was fine
    note: str | None = None  # what else the user should know
    left_out: int = 0  # cues in spans the user asked to forget


Progress = Callable[[str, float], None]


def import_files(
    paths: Paths,
    files: Sequence[Path],
    *,
    profile: str,
    at: float | None = None,
    progress: Progress = lambda name, fraction: None,
) -> list[ImportResult]:
    """Import each file; a file that cannot be read is reported and the others still import."""
    chosen = load_profile(profile, paths.profiles_dir)
    store = Store(paths.database)
    spool = Spool(paths.spool_dir)
    results = []
    try:
        for path in files:
            if is_transcript(path):
                results.append(_import_transcript(paths, path, chosen, at, store))
            else:
                results.append(_import_recording(paths, path, chosen, at, store, spool, progress))
    finally:
        store.close()
    return results


def _import_recording(
    paths: Paths,
    path: Path,
    profile: Profile,
    at: float | None,
    store: Store,
    spool: Spool,
    progress: Progress,
) -> ImportResult:
    """Cut a recording into utterances as live audio is, spool those not stored yet, and
    transcribe them here (or leave them to a running daemon that took them first)."""
    result = ImportResult(file=shown(path), ok=False)
    try:
        source = FileSource(path, start=at)
    except ImportFailed as exc:
        result.error = str(exc)
        return result
    result.start, result.duration_s = source.start_time, source.duration
    named = f"file-{_recording_digest(source, profile.name)}-"
    earlier = store.utterances.first_named(named)
    error = _spool_recording(source, named, profile, store, spool, result.uids)
    if error:
        result.error = f"{path}: {error}"
        return result
    if earlier is not None and _imported_before(result, profile, source.start_time):
        return result
    progress(path.name, 0.05)
    _transcribe_spooled(paths, path.name, source.duration, profile, store, spool, progress, result)
    return result


def _spool_recording(
    source: FileSource,
    named: str,
    profile: Profile,
    store: Store,
    spool: Spool,
    uids: list[str],
) -> str | None:
    """Segment the recording and spool the utterances not stored already, adding their uids to
    `uids`; the capture's error, if it stopped on one."""
    at = source.start_time
    capture = CaptureStage(
        source=source,
        segmenter=Segmenter(profile.segmentation, live=False),
        spool=spool,
        profile=lambda: profile.name,
        on_spooled=lambda item: uids.append(item.uid),
        # named by the recording and the offset, so the same recording at the same
        # time is recognised: what is stored already is not stored again
        uid_for=lambda start: f"{named}{round((start - at) * 1000):010d}",
        already_stored=store.utterances.has,
    )
    capture.run_to_end()
    return capture.error


def _imported_before(result: ImportResult, profile: Profile, start: float) -> bool:
    """Say that this recording was imported into the profile before; True when all of it was,
    so nothing is left to transcribe."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(start))
    if not result.uids:
        result.ok = True
        result.skipped = (
            f"already imported into {profile.name} (it starts {when}); nothing stored again"
        )
        return True
    result.note = (
        f"partly imported into {profile.name} before (it starts {when}); only what "
        "was missing is stored now"
    )
    return False


def _transcribe_spooled(
    paths: Paths,
    name: str,
    duration_s: float,
    profile: Profile,
    store: Store,
    spool: Spool,
    progress: Progress,
    result: ImportResult,
) -> None:
    """Transcribe the recording's spooled utterances, telling `progress` as each is done."""
    done_s = 0.0
    total_s = max(duration_s, 0.001)

    def finished(item: SpooledUtterance) -> None:
        nonlocal done_s
        done_s += item.duration
        progress(name, min(1.0, 0.05 + 0.95 * done_s / total_s))

    stage = TranscribeStage(
        spool=spool,
        store=store,
        index_root=paths.index_dir,
        audio_root=paths.data_dir / "audio",
        profile_for=lambda other: (
            profile if other == profile.name else load_profile(other, paths.profiles_dir)
        ),
        on_done=finished,
    )
    stage.drain(only=set(result.uids))
    stage.close()
    if stage.server_problem:  # nothing is lost: the daemon sends them when it can
        result.note = f"{stage.server_problem} (by the daemon, which sends them later)"
    else:
        _wait_for_others(store, result.uids)
    result.utterances = len(result.uids)
    result.ok = True
    progress(name, 1.0)


def _recording_digest(source: FileSource, profile: str) -> str:
    """Names one recording (its audio, as decoded) imported under one profile at one time."""
    digest = hashlib.sha256(f"{profile}\0{source.start_time:.3f}\0".encode())
    digest.update(source.samples.tobytes())
    return digest.hexdigest()[:16]


_LATEST = 4102444800.0  # 2100-01-01: a transcript dated later is a mistake in --at or the file


def _import_transcript(
    paths: Paths, path: Path, profile: Profile, at: float | None, store: Store
) -> ImportResult:
    """Read a transcript whole, redact it, and store it in one transaction (or nothing)."""
    result = ImportResult(file=shown(path), ok=False, transcript=True)
    try:
        content = read_file(path)  # read once: what is parsed is what is recognised again
        cues = read_transcript(path, content)
        modified = os.stat(path).st_mtime
    except ImportFailed as exc:
        result.error = str(exc)
        return result
    except OSError as exc:
        result.error = f"{shown(path)}: cannot be read ({exc.strerror or exc})"
        return result
    # A transcript is written as the meeting ends: its modification time is the end.
    anchor = at if at is not None else modified - cues[-1].end
    if not 0 <= anchor <= anchor + cues[-1].end <= _LATEST:
        result.error = (
            f"{shown(path)}: would be filed outside 1970 to 2100 (it starts at "
            f"{anchor:.0f} s since 1970 and lasts {cues[-1].end:.0f} s); expected a --at "
            "(or file time) and cue times that give a date in that span"
        )
        return result
    digest = hashlib.sha256(profile.name.encode() + b"\0" + normalised(content)).hexdigest()[:16]
    result.duration_s = cues[-1].end
    result.ok = True
    earlier = store.utterances.first_named(f"transcript-{digest}-")
    if earlier is not None:
        result.start = earlier.start - cues[int(earlier.uid.rsplit("-", 1)[1])].start
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(result.start))
        result.skipped = (
            f"already imported into {profile.name} (it starts {when}); nothing stored again"
        )
        return result
    result.start = anchor
    utterances = list(_utterances(path, profile, cues, anchor, digest, store, result))
    result.speakers = list(
        dict.fromkeys(s.speaker for u in utterances for s in u.segments if s.speaker)
    )
    result.utterances = store.utterances.add_many(utterances)
    result.uids = [u.uid for u in utterances]
    index = SearchIndex(paths.index_dir, profile.name)
    try:
        index.sync(store)
    except Exception as exc:  # stored is stored; the index catches up from the store later
        log.warning("the search index of %s was not brought up to date: %s", profile.name, exc)
        result.note = "not yet searchable (`earmark reindex` brings the index up to date)"
    finally:
        index.close()
    return result


def _utterances(
    path: Path,
    profile: Profile,
    cues: list[Cue],
    anchor: float,
    digest: str,
    store: Store,
    result: ImportResult,
) -> Iterator[NewUtterance]:
    """The cues as utterances: each redacted whole (text and speaker) before a long one is cut
    into segments, so no number is cut in two; those in spans the user forgot left out."""
    redactor = redactor_for(profile.redaction)
    forgotten = store.forgotten.spans()
    source = f"{IMPORTED}{shown(Path(path.name))}"
    model = f"transcript {path.suffix.lstrip('.').lower() or 'text'}"
    for number, cue in enumerate(cues):
        start, end = anchor + cue.start, anchor + cue.end
        if any(since < end and start < until for since, until in forgotten):
            result.left_out += 1
            continue
        if redactor.active:
            [text], _ = redactor.utterance([cue.text])
            speaker = redactor.text(cue.speaker) if cue.speaker else None
            cue = Cue(cue.start, cue.end, text, speaker, cue.line)
        yield NewUtterance(
            uid=f"transcript-{digest}-{number:05d}",
            profile=profile.name,
            source=source,
            start=start,
            end=end,
            model=model,
            language=profile.transcription.language,
            segments=[
                NewSegment(
                    start=anchor + piece.start,
                    end=anchor + piece.end,
                    text=piece.text,
                    avg_logprob=0.0,  # written by a person: no model's doubt
                    no_speech_prob=0.0,
                    compression_ratio=1.0,
                    words=(),
                    speaker=piece.speaker,
                )
                for piece in split_cue(cue, profile.segmentation.max_utterance_s)
            ],
        )


def _wait_for_others(store: Store, uids: list[str]) -> None:
    """Items a running daemon claimed first are transcribed there; wait while it makes progress."""
    missing = [u for u in uids if not store.utterances.has(u)]
    last_progress = time.monotonic()
    while missing and time.monotonic() - last_progress < _STALL_S:
        time.sleep(0.2)
        still = [u for u in missing if not store.utterances.has(u)]
        if len(still) < len(missing):
            last_progress = time.monotonic()
        missing = still
    if missing:
        log.warning(
            "%d utterances are still in the spool; the daemon will finish them", len(missing)
        )
