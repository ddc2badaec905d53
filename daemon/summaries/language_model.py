"""The optional summary written by a language model the user runs (an OpenAI-compatible chat
endpoint such as a local Ollama or llama.cpp server). Off unless a profile names one; when it
cannot be reached the export stays extractive and says so."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from daemon.core.loopback import opener_for
from daemon.core.profiles import LanguageModel
from daemon.summaries.extractors import Sentence

__all__ = ["summarize_with", "LanguageModelUnavailable"]

_MAX_CHARS = 24_000  # the latest part of a long period, to fit small local models
_INSTRUCTIONS = (
    "You summarise a transcript of what one person heard. Write a short summary in Markdown "
    "bullet points: what was discussed, decided and promised, with who and when when said. "
    "Use only what the transcript says."
)


class LanguageModelUnavailable(Exception):
    """The endpoint could not give a summary; the message says why, in a few words."""


def summarize_with(settings: LanguageModel, profile: str, sentences: list[Sentence]) -> str:
    """The model's summary of the sentences; LanguageModelUnavailable when it gives none."""
    lines = [f"[{time.strftime('%H:%M', time.localtime(s.at))}] {s.text}" for s in sentences]
    transcript = "\n".join(lines)[-_MAX_CHARS:]
    body = {
        "model": settings.model,
        "messages": [
            {"role": "system", "content": _INSTRUCTIONS},
            {"role": "user", "content": f"Profile: {profile}\n\nTranscript:\n{transcript}"},
        ],
        "temperature": 0.2,
    }
    request = urllib.request.Request(
        settings.endpoint.rstrip("/") + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with opener_for(settings.endpoint).open(request, timeout=settings.timeout_s) as response:
            reply = json.load(response)
        return str(reply["choices"][0]["message"]["content"]).strip()
    except urllib.error.HTTPError as exc:
        raise LanguageModelUnavailable(f"it answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LanguageModelUnavailable(f"it could not be reached ({reason})") from None
    except (ValueError, KeyError, IndexError, TypeError):
        raise LanguageModelUnavailable("its answer was not a chat completion") from None
