"""Transcription on a server: a real OpenAI-compatible server from PyPI (faster-whisper-server,
serving the bundled model from its path) and a real nginx in front of it (an API key) or in its
place (a static file server the profile was wrongly pointed at)."""

from __future__ import annotations

import http.server
import json
import os
import socket
import sqlite3
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from realparts import (
    Nginx,
    WhisperServer,
    default_profile_on_server,
    earmark,
    earmark_json,
    free_port,
)

from daemon.core.profiles import Transcription, TranscriptionServer, parse_profile
from daemon.storage.spool import Spool
from daemon.transcribe.transcription_server import (
    ServerAway,
    ServerRefused,
    ServerTranscriber,
    _reason,
)

JFK = Path(__file__).parent / "data" / "speech" / "jfk_inaugural.wav"

SENTENCES = [
    "Please bring the revised forecast.",
    "The quarterly budget review moves to next Tuesday.",
    "The violin concert starts at eight.",
    "Our train leaves from platform nine.",
    "The garden needs water every morning.",
    "My sister painted the kitchen yellow.",
    "The library closes early on Fridays.",
    "He parked the bicycle near the bakery.",
]


def spool_sentences(earmark_home: Path, speak, sentences: list[str]) -> list[str]:
    """Each sentence as an utterance heard a minute ago, waiting in the spool: their uids."""
    spool = Spool(earmark_home / "data" / "spool")
    uids, start = [], time.time() - 60
    for k, text in enumerate(sentences):
        with wave.open(str(speak(text))) as w:
            samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        item = spool.put(
            profile="default", source="microphone", start=start + 5 * k, samples=samples
        )
        uids.append(item.uid)
    return uids


def stored(earmark_home: Path) -> list[tuple[str, str, str]]:
    """(uid, model, text) of every stored utterance, in the order they were stored."""
    db = sqlite3.connect(earmark_home / "data" / "earmark.db")
    try:
        return db.execute(
            "SELECT u.uid, u.model, group_concat(s.text, ' ') FROM utterances u "
            "JOIN segments s ON s.utterance_id = u.id GROUP BY u.id ORDER BY u.id"
        ).fetchall()
    finally:
        db.close()


def words(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c == " ").split())


# -- the answer, read without a server ----------------------------------------------------------


def test_profile_names_a_server_and_bad_settings_say_what_was_expected(tmp_path):
    profile = parse_profile(
        "transcription:\n  server:\n    url: http://gpu-box:8000/v1\n"
        "    model: Systran/faster-whisper-large-v3\n    api_key_env: WHISPER_KEY\n"
        "    in_flight: 4\n    fallback: local\n    fallback_after_s: 300\n",
        source="work.yaml",
        name="work",
    )
    server = profile.transcription.server
    assert (server.url, server.in_flight, server.fallback) == ("http://gpu-box:8000/v1", 4, "local")
    for bad, said in [
        ("url: gpu-box:8000", "expected an http:// or https:// address, got 'gpu-box:8000'"),
        ("in_flight: 0", "in_flight: expected a value from 1 to 64, got 0"),
        ("fallback: cloud", "fallback: expected one of none, local, got 'cloud'"),
        ("api_key: sk-123", "api_key: unknown key"),
    ]:
        with pytest.raises(Exception, match=said):
            parse_profile(f"transcription:\n  server:\n    {bad}\n", source="w.yaml", name="w")


def answer(transcriber: ServerTranscriber, body: dict, seconds: float = 4.0):
    return transcriber._segments(body, duration=seconds)


def test_segments_words_and_flags_come_from_a_verbose_json_answer():
    transcriber = ServerTranscriber(Transcription(server=TranscriptionServer(url="http://h/v1")))
    segments, language = answer(
        transcriber,
        {
            "text": "Ask not. Thank you.",
            "language": "english",
            "segments": [
                {
                    "start": 0.0,
                    "end": 1.5,
                    "text": " Ask not.",
                    "avg_logprob": -0.2,
                    "no_speech_prob": 0.01,
                    "compression_ratio": 1.1,
                },
                {
                    "start": 2.0,
                    "end": 3.0,
                    "text": " Thank you.",
                    "avg_logprob": -1.2,
                    "no_speech_prob": 0.8,
                    "compression_ratio": 1.0,
                },
            ],
            "words": [
                {"word": "Ask", "start": 0.1, "end": 0.5},
                {"word": "not.", "start": 0.6, "end": 1.2},
                {"word": "Thank", "start": 2.1, "end": 2.4},
                {"word": "you.", "start": 2.5, "end": 2.8},
            ],
        },
    )
    assert language == "english"
    assert [s.text for s in segments] == ["Ask not.", "Thank you."]
    assert [w[2] for w in segments[0].words] == ["Ask", "not."]
    assert segments[0].flag is None
    assert segments[1].flag.startswith("no speech")  # flagged as a local one would be


def test_an_answer_without_segments_is_one_segment_and_garbage_is_an_error():
    transcriber = ServerTranscriber(Transcription(server=TranscriptionServer(url="http://h/v1")))
    segments, _ = answer(transcriber, {"text": " Ask not what your country can do."}, 3.5)
    assert [(s.start, s.end, s.text) for s in segments] == [
        (0.0, 3.5, "Ask not what your country can do.")
    ]
    assert transcriber.no_timings
    for garbage in [[], {"segments": []}, {"text": "x", "segments": [{"start": "soon"}]}]:
        with pytest.raises((ValueError, TypeError, KeyError, AttributeError)):
            answer(transcriber, garbage)


def test_times_outside_the_utterance_are_held_inside_it_and_refusals_are_printable():
    transcriber = ServerTranscriber(Transcription(server=TranscriptionServer(url="http://h/v1")))
    segments, _ = answer(
        transcriber,
        {"text": "x", "segments": [{"start": -40.0, "end": 1e12, "text": "Ask not."}]},
        2.0,
    )
    assert (segments[0].start, segments[0].end) == (0.0, 2.0)
    said = _reason(bytes(range(256)) * 100)
    assert said.isprintable() and len(said) <= 161
    assert _reason(b'{"error": {"message": "Invalid model"}}') == "Invalid model"
    assert _reason(b'{"detail": [{"msg": "field required"}]}') == "field required"
    assert _reason(b"[" * 100_000).startswith("[[[")  # too deep to read as JSON: shown as text


def test_a_server_nothing_listens_on_is_away_not_refused():
    url = f"http://127.0.0.1:{free_port()}/v1"
    transcriber = ServerTranscriber(Transcription(server=TranscriptionServer(url=url)))
    with pytest.raises(ServerAway, match=r"unreachable \(.*refused"):
        transcriber.transcribe(np.zeros(16_000, dtype=np.float32))


def test_a_server_answering_a_byte_at_a_time_is_away_once_its_timeout_has_passed():
    """urllib's timeout is per read: a peer that drips its answer must still be given up on."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip():
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n":
                if stop.wait(0.3):
                    return
                conn.sendall(bytes([byte]))

    threading.Thread(target=drip, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    server = TranscriptionServer(url=url, timeout_s=2)
    began = time.monotonic()
    try:
        with pytest.raises(ServerAway, match=r"no whole answer within 2 s"):
            ServerTranscriber(Transcription(server=server)).transcribe(np.zeros(1600, np.float32))
        assert time.monotonic() - began < 5
    finally:
        stop.set()
        listener.close()


def test_a_key_no_header_can_carry_is_refused_without_showing_it(tmp_path):
    key = tmp_path / "key"
    key.write_text("sk-abc\ndef\n")
    server = TranscriptionServer(url="http://127.0.0.1:9/v1", api_key_file=str(key))
    with pytest.raises(ServerRefused, match="has no usable API key") as refused:
        ServerTranscriber(Transcription(server=server)).transcribe(np.zeros(1600, np.float32))
    assert "abc" not in str(refused.value)


def test_a_redirect_is_not_followed_with_the_key():
    asked = []

    class Redirecting(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the standard library's name
            asked.append((self.path, self.headers.get("Authorization")))
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/steal")
            self.end_headers()

        def do_GET(self):  # noqa: N802
            asked.append((self.path, self.headers.get("Authorization")))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_port}/v1"
        os.environ["EARMARK_TEST_REDIRECT_KEY"] = "sk-secret"
        server = TranscriptionServer(url=url, api_key_env="EARMARK_TEST_REDIRECT_KEY")
        with pytest.raises(ServerRefused, match="redirected the request"):
            ServerTranscriber(Transcription(server=server)).transcribe(np.zeros(1600, np.float32))
        assert [path for path, _ in asked] == ["/v1/audio/transcriptions"]
    finally:
        os.environ.pop("EARMARK_TEST_REDIRECT_KEY", None)
        httpd.shutdown()
        httpd.server_close()


def test_each_word_goes_to_one_segment_and_an_answer_too_big_for_an_utterance_is_refused():
    transcriber = ServerTranscriber(Transcription(server=TranscriptionServer(url="http://h/v1")))
    word = {"word": "ask", "start": 0.1, "end": 0.2}
    twice = [{"start": 0.0, "end": 1.0, "text": "Ask."}, {"start": 0.0, "end": 1.0, "text": "Ask."}]
    segments, _ = answer(transcriber, {"text": "x", "segments": twice, "words": [word]})
    assert [len(s.words) for s in segments] == [1, 0]
    many = [{"start": 0.0, "end": 1.0, "text": "a"}] * 1000
    with pytest.raises(ValueError, match="more segments"):
        answer(transcriber, {"text": "x", "segments": many})
    with pytest.raises(ValueError, match="finite"):
        answer(
            transcriber, {"text": "x", "segments": [{"start": float("inf"), "end": 1, "text": "a"}]}
        )


def test_a_key_variable_not_set_is_refused_before_asking(monkeypatch):
    monkeypatch.delenv("EARMARK_TEST_NO_KEY", raising=False)
    server = TranscriptionServer(url="http://127.0.0.1:9/v1", api_key_env="EARMARK_TEST_NO_KEY")
    with pytest.raises(ServerRefused, match="the variable EARMARK_TEST_NO_KEY is not set"):
        ServerTranscriber(Transcription(server=server)).transcribe(np.zeros(1600, np.float32))


# -- a real server ---------------------------------------------------------------------------


@pytest.fixture
def whisper_server(tmp_path):
    servers: list[WhisperServer] = []

    def start(**kwargs) -> WhisperServer:
        server = WhisperServer(tmp_path / f"server{len(servers)}.log", **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def nginx(tmp_path):
    started: list[Nginx] = []

    def start(**kwargs) -> Nginx:
        root = tmp_path / f"nginx{len(started)}"
        root.mkdir()
        started.append(Nginx(root, **kwargs).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.mark.integration
def test_real_speech_is_transcribed_through_the_server(whisper_server, earmark_home):
    server = whisper_server()
    default_profile_on_server(earmark_home, url=server.url)
    earmark("import", str(JFK), check=True)
    rows = stored(earmark_home)
    assert rows and {model for _, model, _ in rows} == {f"whisper-1 at {server.url}"}
    said = words(" ".join(text for _, _, text in rows))
    assert "your country can do for you ask what you can do for your country" in said
    hits = earmark_json("search", "country")
    assert hits and "country" in hits[0]["text"].lower()


@pytest.mark.integration
def test_server_killed_mid_backlog_and_back_stores_each_utterance_once(
    whisper_server, daemon_factory, earmark_home, speak
):
    server = whisper_server(workers=2)
    default_profile_on_server(earmark_home, url=server.url, in_flight=3)
    uids = spool_sentences(earmark_home, speak, SENTENCES)
    daemon = daemon_factory()
    daemon.wait_for(lambda s: s["utterances_transcribed"] >= 2, what="the first transcripts")
    server.kill()
    away = daemon.wait_for(
        lambda s: "transcription server unreachable" in (s["problem"] or ""),
        what="the server to be missed",
    )
    assert "since" in away["problem"] and away["backlog"] > 0
    time.sleep(3)  # retried meanwhile, with nothing to show for it
    status = daemon.status()
    assert status["backlog"] == away["backlog"] == len(Spool(earmark_home / "data" / "spool"))
    assert status["utterances_transcribed"] == len(uids) - status["backlog"]

    whisper_server(port=server.port)  # the same address, back
    done = daemon.wait_for(
        lambda s: s["backlog"] == 0 and s["problem"] is None, timeout=120, what="the backlog"
    )
    assert any("answers again" in note for note in done["notes"]), (done["notes"], done["problem"])
    ledger = earmark_json("ledger", "--since", "10m")
    away = [k for row in ledger for k in row["server_away"]]
    assert away and all(k.startswith(f"{server.url} unreachable") for k in away), ledger
    rows = stored(earmark_home)
    assert [uid for uid, _, _ in rows] == uids  # each one once, stored in the order heard
    heard = [
        max(words(said).split(), key=len) in words(text)
        for (_, _, text), said in zip(rows, SENTENCES, strict=True)
    ]
    assert sum(heard) >= len(SENTENCES) - 1, rows
    daemon.stop()


@pytest.mark.integration
def test_a_wrong_api_key_says_so_and_loses_nothing(
    whisper_server, nginx, daemon_factory, earmark_home, speak, monkeypatch
):
    server = whisper_server()
    proxy = nginx(upstream=f"http://127.0.0.1:{server.port}", key="right-key")
    default_profile_on_server(earmark_home, url=proxy.proxy_url, api_key_env="EARMARK_TEST_KEY")
    uids = spool_sentences(earmark_home, speak, SENTENCES[:2])
    daemon = daemon_factory(env={"EARMARK_TEST_KEY": "wrong-key"})
    status = daemon.wait_for(lambda s: s["problem"], what="the refusal")
    assert status["problem"].startswith(
        "transcription server refused the request (HTTP 401: Incorrect API key provided)"
    ), status["problem"]
    assert status["backlog"] == 2 and status["error"] is None
    time.sleep(3)
    assert daemon.status()["whisper_calls"] == 1  # not asked again and again
    daemon.stop()
    assert stored(earmark_home) == []
    assert len(list((earmark_home / "data" / "spool").glob("*.json"))) == 2

    fixed = daemon_factory(env={"EARMARK_TEST_KEY": "right-key"})
    fixed.wait_for(lambda s: s["backlog"] == 0 and s["utterances_transcribed"] == 2)
    assert [uid for uid, _, _ in stored(earmark_home)] == uids
    fixed.stop()


@pytest.mark.integration
def test_a_web_server_answering_a_page_is_not_taken_for_a_transcript(
    nginx, daemon_factory, earmark_home, speak
):
    static = nginx(upstream="http://127.0.0.1:9", key="k")
    default_profile_on_server(earmark_home, url=static.static_url)
    spool_sentences(earmark_home, speak, SENTENCES[:1])
    daemon = daemon_factory()
    status = daemon.wait_for(lambda s: s["problem"], what="the answer to be refused")
    assert status["problem"].startswith(
        "transcription server answered with something that is not a transcription"
    ), status["problem"]
    assert "It works!" in status["problem"]
    assert status["backlog"] == 1
    daemon.stop()
    assert stored(earmark_home) == []


@pytest.mark.integration
def test_the_local_model_takes_over_once_the_server_has_been_away_long_enough(
    daemon_factory, earmark_home, speak
):
    url = f"http://127.0.0.1:{free_port()}/v1"
    default_profile_on_server(earmark_home, url=url, fallback="local", fallback_after_s=2)
    uids = spool_sentences(earmark_home, speak, SENTENCES[:3])
    daemon = daemon_factory()
    daemon.wait_for(lambda s: s["backlog"] == 0, timeout=90, what="the local model to take over")
    rows = stored(earmark_home)
    assert [uid for uid, _, _ in rows] == uids
    assert {model for _, model, _ in rows} == {"tiny.en (bundled)"}
    assert "transcription server unreachable" in daemon.status()["problem"]
    daemon.stop()


def doctor(**kwargs) -> dict:
    """`earmark doctor`'s checks by name (it exits 1 when any fails)."""
    return {c["name"]: c for c in json.loads(earmark("doctor", "--json", **kwargs).stdout)}


@pytest.mark.integration
def test_doctor_checks_the_server_its_model_and_a_test_transcription(
    whisper_server, nginx, earmark_home
):
    server = whisper_server()
    default_profile_on_server(earmark_home, url=server.url)
    checks = doctor()
    assert checks["transcription server"]["verdict"] == "ok", checks
    assert "on this machine" in checks["transcription server"]["detail"]
    assert checks["server transcription"]["verdict"] == "ok"
    assert checks["server transcription"]["detail"].startswith("a one-second test took ")

    proxy = nginx(upstream=f"http://127.0.0.1:{server.port}", key="k")
    default_profile_on_server(
        earmark_home, url=proxy.proxy_url, model="large-v9", api_key_env="EARMARK_TEST_KEY"
    )
    checks = doctor(env={**os.environ, "EARMARK_TEST_KEY": "k"})
    assert checks["transcription server"]["verdict"] == "fail"
    assert checks["transcription server"]["detail"] == (
        f"{proxy.proxy_url} has no model 'large-v9' (it lists whisper-1)"
    )

    default_profile_on_server(
        earmark_home, url=proxy.proxy_url, model="whisper-1", api_key_env="EARMARK_TEST_KEY"
    )
    checks = doctor(env={**os.environ, "EARMARK_TEST_KEY": "k"})
    assert checks["transcription server"]["verdict"] == "ok"
    assert "answers and has whisper-1" in checks["transcription server"]["detail"]
    assert checks["server transcription"]["verdict"] == "ok"

    default_profile_on_server(earmark_home, url=proxy.static_url)
    checks = doctor()
    assert checks["server transcription"]["verdict"] == "fail"
    assert "not a transcription" in checks["server transcription"]["detail"]

    server.stop()
    default_profile_on_server(earmark_home, url=server.url)
    result = earmark("doctor")
    assert result.returncode != 0
    assert f"{server.url} unreachable" in result.stdout
