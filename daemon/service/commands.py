"""The commands the daemon's control socket answers (the CLI and the tray send them), each a
function of the daemon and the request."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from daemon.core.errors import EarmarkError
from daemon.service.status import status
from daemon.summaries.export import export_period
from daemon.wearable.protocol import CODE_LIFETIME_S

if TYPE_CHECKING:
    from daemon.service.daemon import Daemon

__all__ = ["commands_for"]


def commands_for(daemon: Daemon) -> dict[str, Callable[[dict], object]]:
    """The control socket's table: command name -> handler of one request."""
    return {name: functools.partial(handler, daemon) for name, handler in _COMMANDS.items()}


def _status(daemon: Daemon, _message: dict) -> dict:
    return status(daemon)


def _timings(daemon: Daemon, _message: dict) -> dict:
    """When each of the latest utterances was heard and became searchable."""
    return {
        "utterances": [
            {"start": start, "speech_end": end, "searchable": at}
            for start, end, at in list(daemon.transcribe.searchable)
        ]
    }


def _stop(daemon: Daemon, _message: dict) -> dict:
    daemon.stop()
    return {"stopping": True}


def _search(daemon: Daemon, message: dict) -> list[dict]:
    return daemon.indexes.search(message)


def _toggle(daemon: Daemon, _message: dict) -> dict:
    return daemon.change_recording(daemon.recording_state.toggled())


def _pause(daemon: Daemon, message: dict) -> dict:
    return daemon.change_recording(daemon.recording_state.paused_for(message.get("seconds")))


def _resume(daemon: Daemon, _message: dict) -> dict:
    return daemon.change_recording(daemon.recording_state.resumed())


def _use_profile(daemon: Daemon, message: dict) -> dict:
    return daemon.use_profile(str(message["name"]), by_hand=True)


def _forget(daemon: Daemon, message: dict) -> dict:
    """Delete audio, transcripts and index entries of the last `seconds`, in every profile."""
    seconds = float(message["seconds"])
    if seconds <= 0:
        raise EarmarkError(f"{seconds:g} s: expected a positive length of time to forget")
    now = time.time()
    return {"forgotten": daemon.forgetter.forget(now - seconds, now)}


def _conversation(daemon: Daemon, message: dict) -> list[dict]:
    """One profile's transcript between two times, with the audio kept for it."""
    segments = daemon.store.segments.find(
        profiles=[str(message["profile"])],
        since=float(message["since"]),
        until=float(message["until"]),
        include_flagged=False,
    )
    audio = {}
    for utterance_id in {s.utterance_id for s in segments}:
        utterance = daemon.store.utterances.get(utterance_id)
        audio[utterance_id] = utterance.audio_path if utterance else None
    return [
        {
            "id": s.id,
            "start": s.start,
            "end": s.end,
            "text": s.text,
            "source": s.source,
            "speaker": s.speaker,
            "audio_path": audio[s.utterance_id],
        }
        for s in segments
    ]


def _export(daemon: Daemon, message: dict) -> dict:
    """Write the active profile's summary of today or this week; returns where."""
    period = message.get("period", "today")
    now = time.time()
    today = time.localtime(now)
    if period == "today":
        since = time.mktime((*today[:3], 0, 0, 0, 0, 0, -1))
    elif period == "this week":
        since = time.mktime((*today[:2], today.tm_mday - today.tm_wday, 0, 0, 0, 0, 0, -1))
    else:
        raise EarmarkError(f"export period {period!r}: expected 'today' or 'this week'")
    path = export_period(daemon.paths, daemon.profile, since, now)
    return {"path": str(path), "profile": daemon.profile.name, "period": period}


def _pair(daemon: Daemon, message: dict) -> dict:
    """A one-time code a new wearable trades for its credentials."""
    name = str(message.get("name", "")).strip()
    if not name or len(name) > 40 or not all(c.isalnum() or c in " -_." for c in name):
        raise EarmarkError(
            f"device name {name!r}: expected 1 to 40 letters, digits, spaces, - _ or ."
        )
    taken = [w for w in daemon.store.wearables.all() if w.name == name and w.revoked is None]
    if taken:
        raise EarmarkError(
            f"a device named {name!r} is already paired; revoke it first "
            f"(earmark devices revoke {name!r}) or choose another name"
        )
    profile = message.get("profile")
    if profile:
        daemon.profiles.get(str(profile))  # it must load
    if daemon.listener.url is None:
        raise EarmarkError(daemon.listener.error or "the wearable listener is not running")
    return {
        "code": daemon.pairing.issue(name, profile),
        "expires": time.time() + CODE_LIFETIME_S,
        "url": daemon.listener.url,
        "fingerprint": daemon.listener.fingerprint,
        "name": name,
    }


_COMMANDS: dict[str, Callable[[Daemon, dict], object]] = {
    "status": _status,
    "timings": _timings,
    "stop": _stop,
    "search": _search,
    "toggle": _toggle,
    "pause": _pause,
    "resume": _resume,
    "use_profile": _use_profile,
    "forget": _forget,
    "conversation": _conversation,
    "export": _export,
    "pair": _pair,
}
