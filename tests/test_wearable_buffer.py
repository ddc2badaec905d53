"""The reference client's offline buffer, and telling one utterance heard by two inputs."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from daemon.opus import OpusError, decode_opus, encode_opus
from daemon.overlap import same_speech
from daemon.wearable_client import OfflineBuffer

SECOND = (np.arange(16000) % 100).astype("<i2").tobytes()


def test_contiguous_chunks_make_one_recording_and_a_gap_starts_another(tmp_path):
    buffer = OfflineBuffer(tmp_path / "buffer")
    buffer.append(1000.0, SECOND)
    buffer.append(1001.0, SECOND)
    assert buffer.ready() == []  # still being written
    buffer.append(1010.0, SECOND)  # nine seconds later: a new recording
    (first,) = buffer.ready()
    assert first[1] == 1000.0
    with wave.open(io.BytesIO(buffer.wav(first[0]))) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        assert w.readframes(w.getnframes()) == SECOND * 2
    buffer.close_current()
    assert [r[1] for r in buffer.ready()] == [1000.0, 1010.0]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in (tmp_path / "buffer").iterdir())
    buffer.remove(first[0])
    aside = buffer.set_aside(buffer.ready()[0][0])
    assert buffer.ready() == [] and len(list(aside.iterdir())) == 2  # refused: kept, not lost


def test_a_buffer_left_by_a_crash_is_uploaded_whole_samples_only(tmp_path):
    buffer = OfflineBuffer(tmp_path / "buffer")
    buffer.append(1000.0, SECOND)
    (pcm,) = (tmp_path / "buffer").glob("*.pcm")
    with open(pcm, "ab") as fh:
        fh.write(b"\x01")  # half a sample, as a crash mid-write leaves
    reopened = OfflineBuffer(tmp_path / "buffer")  # the client starts again
    (upload_id, recorded_at) = reopened.ready()[0]
    with wave.open(io.BytesIO(reopened.wav(upload_id))) as w:
        assert w.getnframes() == 16000 and recorded_at == 1000.0


def test_same_speech_needs_overlapping_time_and_agreeing_words():
    said = "Who will pay for the new servers?"
    assert same_speech((10.0, 13.0), said, (10.4, 13.2), "who will pay for the new service")
    assert not same_speech((10.0, 13.0), said, (40.0, 43.0), said)  # another time
    assert not same_speech((10.0, 13.0), said, (10.0, 13.0), "The concert starts at eight.")
    assert same_speech((10.0, 13.2), said, (10.9, 14.0), said)  # clocks a second apart


def test_opus_round_trip_keeps_the_length_and_the_sound():
    t = np.arange(32000) / 16000
    tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
    data = encode_opus(tone)
    assert len(data) < len(tone) * 2 / 5  # far smaller than PCM
    decoded = decode_opus(data, len(tone))
    assert len(decoded) == len(tone)
    middle = slice(4000, 28000)
    assert np.corrcoef(decoded[middle], tone[middle])[0, 1] > 0.9
    with pytest.raises(OpusError, match="truncated"):
        decode_opus(data, 3 * len(tone))
    with pytest.raises(OpusError, match="not a readable"):
        decode_opus(b"OggS" + b"x" * 200, 16000)
