"""`earmark import`: recordings take the same segmenter, spool and transcriber as live audio."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from daemon.errors import ImportFailed
from daemon.paths import Paths
from daemon.pipeline import CaptureStage, TranscribeStage
from daemon.profiles import load_profile
from daemon.segmenter import Segmenter
from daemon.sources.file import FileSource
from daemon.spool import Spool, SpooledUtterance
from daemon.store import Store

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
            result = ImportResult(file=str(path), ok=False)
            results.append(result)
            try:
                source = FileSource(path, start=at)
            except ImportFailed as exc:
                result.error = str(exc)
                continue
            result.start, result.duration_s = source.start_time, source.duration
            done_s = 0.0
            total_s = max(source.duration, 0.001)

            def finished(item: SpooledUtterance, *, name=path.name, total_s=total_s) -> None:
                nonlocal done_s
                done_s += item.duration
                progress(name, min(1.0, 0.05 + 0.95 * done_s / total_s))

            capture = CaptureStage(
                source=source,
                segmenter=Segmenter(chosen.segmentation),
                spool=spool,
                profile=lambda: chosen.name,
                on_spooled=lambda item, uids=result.uids: uids.append(item.uid),
            )
            capture.run_to_end()
            if capture.error:
                result.error = f"{path}: {capture.error}"
                continue
            progress(path.name, 0.05)
            stage = TranscribeStage(
                spool=spool,
                store=store,
                index_root=paths.index_dir,
                audio_root=paths.data_dir / "audio",
                profile_for=lambda name: (
                    chosen if name == chosen.name else load_profile(name, paths.profiles_dir)
                ),
                on_done=finished,
            )
            stage.drain(only=set(result.uids))
            stage.close()
            _wait_for_others(store, result.uids)
            result.utterances = len(result.uids)
            result.ok = True
            progress(path.name, 1.0)
    finally:
        store.close()
    return results


def _wait_for_others(store: Store, uids: list[str]) -> None:
    """Items a running daemon claimed first are transcribed there; wait while it makes progress."""
    missing = [u for u in uids if not store.has_utterance(u)]
    last_progress = time.monotonic()
    while missing and time.monotonic() - last_progress < _STALL_S:
        time.sleep(0.2)
        still = [u for u in missing if not store.has_utterance(u)]
        if len(still) < len(missing):
            last_progress = time.monotonic()
        missing = still
    if missing:
        log.warning(
            "%d utterances are still in the spool; the daemon will finish them", len(missing)
        )
