"""Transcription by a server the user runs: `POST {url}/audio/transcriptions`, the
OpenAI-compatible API that vLLM, speaches, whisper.cpp's server, LocalAI and hosted APIs speak.

`ServerTranscriber` stands in for the local `Transcriber`: the same `transcribe()`, giving the
same segments, so the store, the hallucination flags and redaction work as they do locally. It
asks for `verbose_json` with segment and word timestamps and sends the profile's vocabulary as
the prompt. What goes wrong is one of two errors: `ServerAway` (unreachable, a timeout, 5xx,
429: the utterance stays spooled and is sent again later) or `ServerRefused` (an answer that will
not change by asking again: a bad key, an unknown model, a body that is not a transcription).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import math
import os
import re
import socket
import threading
import urllib.error
import urllib.request
import uuid
import wave
from pathlib import Path

import numpy as np

from daemon.core.errors import EarmarkError
from daemon.core.loopback import opener_for
from daemon.core.profiles import Transcription, TranscriptionServer
from daemon.transcribe.transcriber import (
    SERVER_DEFAULT_MODEL,
    TranscribedSegment,
    judge_segment,
    model_label,
)

__all__ = ["ServerTranscriber", "ServerAway", "ServerRefused"]


_REASON_CHARS = 160
_MAX_ANSWER_BYTES = 8 * 1024 * 1024  # a transcript of a 28 s utterance is a few kilobytes
_PERMANENT_5XX = {501, 505}  # not implemented, HTTP version: asking again will not help
_LANGUAGE = re.compile(r"[A-Za-z][A-Za-z -]{0,30}")
_KEY = re.compile(r"[\x21-\x7e]+")
_MOST_SEGMENTS = 500  # an utterance is at most 30 s: a few dozen segments at the very most
_MOST_WORDS = 2_000
_MOST_TEXT = 4_000  # characters of one segment
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


class ServerAway(EarmarkError):
    """The server cannot transcribe now (unreachable, too slow, 5xx, 429); later it may. The
    message completes "the transcription server ...": "unreachable (connection refused)"."""


class ServerRefused(EarmarkError):
    """The server will not transcribe as configured (bad key, unknown model, not a
    transcription server): asking again the same way gives the same answer. The message
    completes "the transcription server ...": "refused the request (HTTP 401: ...)"."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status  # the HTTP status it answered with, if that was the refusal


def _json(body: bytes | str):
    """A server's JSON; ValueError for anything else, nesting too deep to read included."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("nested too deep") from None


def api_key(settings: TranscriptionServer) -> str | None:
    """The API key from the environment variable or the file the profile names, or None. What is
    said about a key that cannot be used never shows the key."""
    if settings.api_key_env:
        key = os.environ.get(settings.api_key_env, "").strip()
        where = f"the variable {settings.api_key_env}"
        if not key:
            raise ServerRefused(f"has no API key: {where} is not set")
    elif settings.api_key_file:
        path = Path(settings.api_key_file).expanduser()
        where = str(path)
        try:
            key = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ServerRefused(
                f"has no API key: {path} cannot be read ({exc.__class__.__name__})"
            ) from None
        if not key:
            raise ServerRefused(f"has no API key: {path} is empty")
    else:
        return None
    if not _KEY.fullmatch(key):
        raise ServerRefused(
            f"has no usable API key: the one in {where} holds characters other than printable "
            "ASCII without spaces, which an HTTP header cannot carry"
        )
    return key


def wav_bytes(audio: np.ndarray) -> bytes:
    """float32 16 kHz mono samples as a 16-bit WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes((np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes())
    return out.getvalue()


def _multipart(fields: list[tuple[str, str]], audio: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        )
    head = "".join(parts) + (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="utterance.wav"'
        "\r\nContent-Type: audio/wav\r\n\r\n"
    )
    body = head.encode() + audio + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _reason(body: bytes) -> str:
    """The server's own words for a refusal: an OpenAI-style error message, or its text."""
    text = body.decode("utf-8", "replace")
    try:
        answer = _json(text)
        if isinstance(answer, dict):
            error = answer.get("error", answer.get("detail", answer.get("message")))
            if isinstance(error, dict):
                error = error.get("message", error.get("error", error))
            if isinstance(error, list):  # FastAPI's validation errors
                error = "; ".join(str(e.get("msg", e)) for e in error if isinstance(e, dict))
            text = str(error) if error is not None else text
    except ValueError:
        pass
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text[:_REASON_CHARS] + ("…" if len(text) > _REASON_CHARS else "")


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} is not a finite number")
    return float(value)


def _word(word: dict, duration: float) -> tuple[float, float, str, float]:
    start = min(max(_number(word["start"], "a word's start"), 0.0), duration)
    end = min(max(_number(word["end"], "a word's end"), start), duration)
    text = _CONTROL.sub(" ", str(word["word"])).strip()[:100]
    return start, end, text, min(max(_number(word.get("probability", 1.0), "probability"), 0), 1)


class _Deadline:
    """Cuts a request's connections once `seconds` have passed since it began. urllib's timeout
    is per read, so a server answering a byte a second would otherwise hold an utterance (and
    a slot of `in_flight`) for ever."""

    def __init__(self, seconds: float):
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()

    def _cut(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked reading it

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def handlers(self) -> tuple[urllib.request.BaseHandler, ...]:
        """urllib handlers whose connections this deadline watches, and that follow no
        redirect (the API key would go to wherever it points)."""
        deadline = self

        class Connection(http.client.HTTPConnection):
            def connect(self):
                super().connect()
                deadline.watch(self.sock)

        class SecureConnection(http.client.HTTPSConnection):
            def connect(self):
                super().connect()
                deadline.watch(self.sock)

        class Handler(urllib.request.HTTPHandler):
            def http_open(self, req):
                return self.do_open(Connection, req)

        class SecureHandler(urllib.request.HTTPSHandler):
            def https_open(self, req):
                return self.do_open(SecureConnection, req, context=self._context)

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, req, fp, code, msg, headers, newurl):
                return None  # the 3xx comes back as an HTTPError

        return Handler(), SecureHandler(), NoRedirect()


class ServerTranscriber:
    """Sends one utterance at a time per call; safe to call from several threads at once."""

    loaded = True  # nothing to load here: the server holds the model

    def __init__(self, settings: Transcription):
        self.settings = settings
        self.server = settings.server
        self.calls = 0
        self.no_timings = False  # the server gave an answer without segment timings
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return model_label(self.settings)

    def load(self) -> None:
        pass

    def _request(self, path: str, *, data: bytes | None = None, content_type: str = ""):
        request = urllib.request.Request(self.server.url.rstrip("/") + path, data=data)
        if content_type:
            request.add_header("Content-Type", content_type)
        key = api_key(self.server)
        if key:
            request.add_header("Authorization", f"Bearer {key}")
        return request

    def _send(self, request, timeout: float) -> bytes:
        """The body of a 2xx answer; ServerAway or ServerRefused otherwise."""
        deadline = _Deadline(timeout)
        try:
            with deadline:
                opener = opener_for(self.server.url, *deadline.handlers())
                with opener.open(request, timeout=timeout) as response:
                    body = response.read(_MAX_ANSWER_BYTES + 1)
                    promised = response.headers.get("Content-Length", "")
            if deadline.expired:
                raise TimeoutError
            if promised.isdigit() and len(body) < int(promised) <= _MAX_ANSWER_BYTES:
                raise http.client.IncompleteRead(body, int(promised) - len(body))
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:  # followed, the key would go where the profile never said
                raise ServerRefused(
                    f"redirected the request (HTTP {exc.code} to {exc.headers.get('Location')!r}); "
                    "the profile's url must name the server itself"
                ) from None
            try:
                reason = _reason(exc.read(_MAX_ANSWER_BYTES))
            except OSError:
                reason = ""
            said = f"HTTP {exc.code}" + (f": {reason}" if reason else "")
            if exc.code in (408, 425, 429) or (exc.code >= 500 and exc.code not in _PERMANENT_5XX):
                raise ServerAway(f"failing ({said})") from None
            raise ServerRefused(f"refused the request ({said})", status=exc.code) from None
        except (ValueError, UnicodeError) as exc:  # a request urllib cannot make of the settings
            raise ServerRefused(f"cannot be asked ({exc.__class__.__name__})") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            # refused, reset, timed out, no route, cut off mid-answer
            reason = getattr(exc, "reason", None) or str(exc) or exc.__class__.__name__
            if deadline.expired:
                reason = f"no whole answer within {timeout:g} s"
            raise ServerAway(f"unreachable ({reason})") from None
        if len(body) > _MAX_ANSWER_BYTES:
            raise ServerRefused(
                f"answered with over {_MAX_ANSWER_BYTES >> 20} MB for one utterance"
            )
        return body

    def models(self) -> list[str] | None:
        """The model names the server lists (`GET {url}/models`), or None if it lists none."""
        try:
            answer = _json(self._send(self._request("/models"), self.server.timeout_s))
            return [str(m["id"]) for m in answer["data"]]
        except ServerRefused as exc:
            if exc.status in (404, 405):
                return None  # whisper.cpp's server, faster-whisper-server: no model list
            raise
        except (ValueError, TypeError, KeyError):
            return None

    def transcribe(self, audio: np.ndarray) -> tuple[list[TranscribedSegment], str | None]:
        """Transcribe float32 16 kHz audio on the server; its segments and the language."""
        fields = [
            ("model", self.server.model or SERVER_DEFAULT_MODEL),
            ("response_format", "verbose_json"),
            ("timestamp_granularities[]", "segment"),
            ("timestamp_granularities[]", "word"),
            ("temperature", "0"),
        ]
        if self.settings.language:
            fields.append(("language", self.settings.language))
        if self.settings.vocabulary:
            fields.append(("prompt", ", ".join(self.settings.vocabulary)))
        body, content_type = _multipart(fields, wav_bytes(audio))
        request = self._request("/audio/transcriptions", data=body, content_type=content_type)
        with self._lock:
            self.calls += 1
        answer = self._send(request, self.server.timeout_s)
        try:
            return self._segments(_json(answer), duration=len(audio) / 16_000)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ServerRefused(
                f"answered with something that is not a transcription ({exc}): {_reason(answer)!r}"
            ) from None

    def _segments(self, answer, *, duration: float):
        if not isinstance(answer, dict) or not isinstance(answer.get("text"), str):
            raise ValueError("no text in it")
        language = answer.get("language")
        language = language if isinstance(language, str) and _LANGUAGE.fullmatch(language) else None
        words = [_word(w, duration) for w in answer.get("words") or ()]
        raw = answer.get("segments")
        if len(raw or ()) > _MOST_SEGMENTS or len(words) > _MOST_WORDS:
            raise ValueError("more segments or words than an utterance can hold")
        if not raw:
            self.no_timings = True
            raw = [{"start": 0.0, "end": duration, "text": answer["text"]}]
        segments, kept = [], 0
        for seg in raw:
            start = min(max(_number(seg["start"], "a segment's start"), 0.0), duration)
            end = min(max(_number(seg["end"], "a segment's end"), start), duration)
            text = _CONTROL.sub(" ", str(seg["text"])).strip()
            if len(text) > _MOST_TEXT:
                raise ValueError("a segment longer than an utterance can hold")
            figures = {
                "avg_logprob": _number(seg.get("avg_logprob", 0.0), "avg_logprob"),
                "no_speech_prob": _number(seg.get("no_speech_prob", 0.0), "no_speech_prob"),
                "compression_ratio": _number(
                    seg.get("compression_ratio", 1.0), "compression_ratio"
                ),
            }
            inside = [w for w in words if start <= (w[0] + w[1]) / 2 <= end] or [
                _word(w, duration) for w in (seg.get("words") or ())[:_MOST_WORDS]
            ]
            words = [w for w in words if w not in inside]  # each word in one segment
            kept += len(inside)
            if kept > _MOST_WORDS:
                raise ValueError("more words than an utterance can hold")
            segments.append(
                TranscribedSegment(
                    start=start,
                    end=end,
                    text=text,
                    words=tuple(inside),
                    flag=judge_segment(text, **figures),
                    **figures,
                )
            )
        return segments, language

    def __str__(self) -> str:
        return f"the transcription server {self.server.url}"
