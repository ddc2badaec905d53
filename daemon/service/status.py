"""What `earmark status` and the tray show: the daemon's state in a word, and the figures behind
it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from daemon.capture.sources.base import LISTENING
from daemon.transcribe.transcriber import model_label

if TYPE_CHECKING:
    from daemon.service.daemon import Daemon

__all__ = ["state", "status"]


def state(daemon: Daemon) -> str:
    if daemon.capture.error or daemon.transcribe.error:
        return "error"
    halt = daemon.recording_state.halt_reason()
    if halt is not None:
        return halt
    if daemon.capture.spool_problem:
        return daemon.capture.spool_problem
    if daemon.capture.source.state != LISTENING:
        return "waiting for microphone"
    if daemon.transcribe.model_state == "loading":
        return "recording (model loading)"
    return "recording"


def status(daemon: Daemon) -> dict:
    capture, transcribe, source = daemon.capture, daemon.transcribe, daemon.capture.source
    latencies = sorted(transcribe.latencies)
    return {
        "state": state(daemon),
        "profile": daemon.profile.name,
        "recording": daemon.recording_state.halt_reason() is None,
        "pause_ends": daemon.recording_state.pause_ends,
        "source": source.name,
        "source_state": source.state,
        "source_reason": source.reason,
        "inputs": source.inputs(),
        "switches": list(source.switches),
        "backlog": len(daemon.spool),
        "profiles": daemon.profile_names(),
        "model": model_label(daemon.profile.transcription),
        "model_state": transcribe.model_state,
        "pid": os.getpid(),
        "started": daemon.started,
        "utterances_heard": capture.utterances,
        "utterances_transcribed": transcribe.transcribed,
        "whisper_calls": transcribe.whisper_calls,
        "last_heard": capture.last_heard,
        "held_in_memory_s": round(capture.held_seconds, 1),
        "dropped_blocks": getattr(source, "overruns", 0),
        "latency_p50_s": latencies[len(latencies) // 2] if latencies else None,
        "latency_p95_s": latencies[int(len(latencies) * 0.95)] if latencies else None,
        "error": capture.error or transcribe.error,
        "problem": transcribe.problem or transcribe.server_problem,
        "notes": list(transcribe.notes),
        "set_aside": transcribe.set_aside + daemon.wearables.set_aside,
        "heard_twice": transcribe.heard_twice,
        "wearables": {
            "url": daemon.listener.url,
            "error": daemon.listener.error,
            "streams": daemon.wearables.status(),
            "uploads_spooled": daemon.wearables.uploads_spooled,
            "connections": daemon.listener.connections.count(),
        },
    }
