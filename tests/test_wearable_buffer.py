"""The reference client's offline buffer, and telling one utterance heard by two inputs."""

from __future__ import annotations

import io
import os
import time
import wave

import numpy as np
import pytest

from daemon.capture.sources.file import FileSource
from daemon.storage.spool import write_wav
from daemon.transcribe.overlap import one_device_heard_it_twice, same_speech
from daemon.wearable.client import OfflineBuffer
from daemon.wearable.ingest import WearableAudio
from daemon.wearable.opus import OpusError, decode_opus, encode_opus

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


def test_one_device_hearing_its_own_audio_twice_needs_real_overlap_and_the_same_words():
    whole = "Who will pay for the new servers and the desks?"
    part = "Who will pay for"  # streamed live before the answer was lost
    assert one_device_heard_it_twice((10.0, 11.2), part, (10.0, 14.0), whole)
    assert one_device_heard_it_twice((10.0, 14.0), whole, (10.05, 14.1), whole)
    # one device's consecutive utterances, however short the pause, are never one
    assert not one_device_heard_it_twice((10.0, 14.0), whole, (14.3, 15.0), "Right.")
    assert not one_device_heard_it_twice((10.0, 14.0), whole, (13.5, 15.0), "The desks too?")
    assert not one_device_heard_it_twice((10.0, 14.0), whole, (10.0, 14.0), "Lunch is at noon.")


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


def test_what_a_device_streamed_live_is_silenced_in_its_upload(tmp_path):
    """A live chunk whose answer was lost comes back in an upload: that span is not heard again."""
    audio = WearableAudio(
        store=None, spool=None, inbox=tmp_path / "inbox", ledger=None, forgetter=None,
        profile_for=None, halted=lambda: None, on_spooled=lambda item: None,
    )  # fmt: skip
    audio._heard_live("wd-1", 1000.0, 1001.0)
    audio._heard_live("wd-1", 1001.1, 1002.0)  # stamping jitter: still one span
    audio._heard_live("wd-1", 1010.0, 1011.0)
    audio._heard_live("wd-2", 1000.0, 1005.0)  # another device
    streamed = audio._streamed("wd-1", 1001.5, 1004.5)
    assert streamed == [(1000.0, 1002.0)]
    path = tmp_path / "upload.wav"
    with open(path, "wb") as f:
        write_wav(f, np.full(3 * 16000, 1000, dtype=np.int16))
    upload = FileSource(path, start=1001.5, name="pendant")  # 1001.5 to 1004.5
    assert upload.silence(streamed) == 0.5
    assert not upload.samples[:8000].any() and upload.samples[8000:].all()


def test_an_upload_that_cannot_be_cut_is_set_aside_after_three_tries(tmp_path):
    from daemon.capture.ledger import CaptureLedger
    from daemon.core.profiles import load_profile
    from daemon.storage.forgetting import Forgetter
    from daemon.storage.spool import Spool
    from daemon.storage.store import Store
    from daemon.storage.uploads import WearableUpload
    from daemon.wearable.protocol import pair_device

    store, spool = Store(tmp_path / "earmark.db"), Spool(tmp_path / "data" / "spool")
    device_id, _ = pair_device(store, "pendant", None)
    audio = WearableAudio(
        store=store, spool=spool, inbox=tmp_path / "data" / "uploads",
        ledger=CaptureLedger(store, pid=os.getpid()),
        forgetter=Forgetter(store=store, spool=spool, index_root=tmp_path),
        profile_for=lambda w: load_profile("default", tmp_path / "profiles"),
        halted=lambda: None, on_spooled=lambda item: None,
    )  # fmt: skip
    upload = WearableUpload(device_id, "up-123456", 1000.0, 5.0, 1001.0, None)
    store.uploads.add(upload)
    audio._inbox_path(device_id, "up-123456").write_bytes(b"RIFF" + os.urandom(500))  # damaged
    for _ in range(2):
        audio.spool_pending()
        assert store.uploads.pending() == [upload]  # tried again later, kept where it was
    audio.spool_pending()
    assert store.uploads.pending() == [] and audio.set_aside == 1
    kept = sorted(p.name for p in (tmp_path / "data" / "damaged").iterdir())
    assert any(n.endswith("up-123456.wav") for n in kept) and any(
        n.endswith(".reason") for n in kept
    )
    store.close()


@pytest.mark.parametrize("damage", [os.urandom(40), b"[]", b'{"upload_id": 7}', b""])
def test_a_damaged_buffer_sidecar_loses_no_recording(tmp_path, damage):
    buffer = OfflineBuffer(tmp_path)
    started = time.time() - 2.0
    buffer.append(started, np.ones(32000, dtype="<i2").tobytes())  # two seconds
    buffer.close_current()
    [(upload_id, _)] = buffer.ready()
    (tmp_path / f"{upload_id}.json").write_bytes(damage)
    [(again, recorded_at)] = buffer.ready()  # still there, dated by its audio file
    assert again == upload_id and abs(recorded_at - started) < 2.5
    assert len(buffer.samples(upload_id)) == 32000
    assert (tmp_path / "refused" / f"{upload_id}.json.damaged").read_bytes() == damage
