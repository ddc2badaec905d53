import io
import json
import os
import subprocess
import sys
import textwrap
import wave

import numpy as np
import pytest

from daemon.storage.spool import SAMPLE_RATE, SpeechJournal, Spool, recover_journals


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (np.sin(2 * np.pi * 220 * t) * 8000).astype(np.int16)


def test_put_writes_wav_and_sidecar_and_reads_back(tmp_path):
    spool = Spool(tmp_path / "spool")
    item = spool.put(
        profile="default", source="mic", start=1000.0, samples=tone(1.5), speech_end=1001.3
    )
    assert item.wav_path.exists() and item.meta_path.exists()
    meta = json.loads(item.meta_path.read_text())
    assert meta["profile"] == "default" and meta["source"] == "mic" and meta["start"] == 1000.0
    assert abs(item.duration - 1.5) < 1e-6
    audio = item.read_audio()
    assert audio.dtype == np.float32 and len(audio) == int(1.5 * SAMPLE_RATE)
    assert np.allclose(audio, tone(1.5) / 32768.0)
    assert spool.pending() == [item]
    assert spool.pending()[0].speech_end == 1001.3


def test_pending_is_oldest_first_and_remove_deletes(tmp_path):
    spool = Spool(tmp_path / "spool")
    late = spool.put(profile="p", source="s", start=2000.0, samples=tone(0.5))
    early = spool.put(profile="p", source="s", start=1000.0, samples=tone(0.5))
    assert [i.uid for i in spool.pending()] == [early.uid, late.uid]
    spool.remove(early)
    assert [i.uid for i in spool.pending()] == [late.uid]
    assert not early.wav_path.exists()


def test_remove_can_keep_audio(tmp_path):
    spool = Spool(tmp_path / "spool")
    item = spool.put(profile="p", source="s", start=1.0, samples=tone(0.5))
    kept = tmp_path / "audio" / "p" / "x.wav"
    spool.remove(item, keep_audio_at=kept)
    assert kept.exists() and len(spool) == 0


def test_claim_is_exclusive_across_processes(tmp_path):
    spool = Spool(tmp_path / "spool")
    item = spool.put(profile="p", source="s", start=1.0, samples=tone(0.5))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import fcntl, os, sys, time
            fd = os.open({str(item.meta_path)!r}, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX)
            print("held", flush=True)
            sys.stdin.read()
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with spool.claim(item) as mine:
        assert mine is False
    holder.stdin.close()
    holder.wait()
    with spool.claim(item) as mine:
        assert mine is True


def test_damaged_sidecar_is_quarantined_not_lost(tmp_path):
    spool = Spool(tmp_path / "spool")
    good = spool.put(profile="p", source="s", start=1.0, samples=tone(0.5))
    (tmp_path / "spool" / "0000000000002-broken.json").write_text("{not json")
    (tmp_path / "spool" / "0000000000002-broken.wav").write_bytes(b"RIFF")
    assert [i.uid for i in spool.pending()] == [good.uid]
    [entry] = spool.damaged.entries()
    assert "spool item cannot be read" in entry.reason
    kept = sorted(p.suffix for p in (tmp_path / "damaged").glob("*0000000000002-broken.*"))
    assert kept == [".json", ".reason", ".wav"]
    assert not (tmp_path / "spool" / "0000000000002-broken.json").exists()


def test_a_spool_sidecar_of_random_bytes_is_set_aside(tmp_path):
    spool = Spool(tmp_path / "spool")
    (tmp_path / "spool" / "0000000000003-noise.json").write_bytes(os.urandom(300))
    (tmp_path / "spool" / "0000000000003-noise.wav").write_bytes(os.urandom(3000))
    assert spool.pending() == []
    assert len(list((tmp_path / "damaged").glob("*noise.*"))) == 3  # and the .reason
    assert len(spool.damaged.entries()) == 1


@pytest.mark.parametrize(
    ("audio", "expected"),
    [
        (lambda: b"RIFF\x24\x00\x00\x00WAVEfmt " + os.urandom(40), "not a readable WAV"),
        (lambda: _wav(rate=44100, channels=2), "expected 1 channel, 16-bit, 16000 Hz"),
    ],
)
def test_audio_that_is_not_what_the_spool_writes_is_refused_with_a_reason(
    tmp_path, audio, expected
):
    spool = Spool(tmp_path / "spool")
    item = spool.put(profile="p", source="s", start=1.0, samples=tone(0.5))
    item.wav_path.write_bytes(audio())
    with pytest.raises(ValueError, match=expected):
        item.read_audio()


def _wav(*, rate: int, channels: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\0\1" * 4000)
    return out.getvalue()


def _dead_journal(spool: Spool, meta: bytes, pcm: bytes) -> None:
    (spool.directory / ".journal-dead.json").write_bytes(meta)
    (spool.directory / ".journal-dead.pcm").write_bytes(pcm)


@pytest.mark.parametrize(
    ("meta", "why"),
    [
        (lambda: b'{"uid": "0000000000500-abcdef0123", "profile": "p", "sour', "cannot be read"),
        (lambda: os.urandom(200), "cannot be read"),
        (lambda: b'{"uid": "../../etc/x", "profile": "p", "source": "m", "start": 1}', "uid"),
        (lambda: b'{"uid": "0000000000500-abcdef0123", "profile": "p", "source": "m", '
                 b'"start": NaN}', "not a time"),
    ],
)  # fmt: skip
def test_a_damaged_journal_is_set_aside_and_recovery_goes_on(tmp_path, meta, why):
    spool = Spool(tmp_path / "spool")
    _dead_journal(spool, meta(), tone(1.0).tobytes())
    assert recover_journals(spool, store_has=lambda u: False) == []
    [entry] = spool.damaged.entries()
    assert "speech journal" in entry.reason and why in entry.reason
    assert sorted(p.suffix for p in (tmp_path / "damaged").glob("*journal-dead*")) == [
        ".json",
        ".pcm",
        ".reason",
    ]
    assert not list(spool.directory.glob(".journal-*"))


def test_a_journal_cut_off_mid_sample_keeps_what_was_heard(tmp_path):
    spool = Spool(tmp_path / "spool")
    meta = b'{"uid": "0000000000500-abcdef0123", "profile": "p", "source": "m", "start": 500.0}'
    _dead_journal(spool, meta, tone(1.0).tobytes() + b"\x01")
    [item] = recover_journals(spool, store_has=lambda u: False)
    assert item.uid == "0000000000500-abcdef0123" and abs(item.duration - 1.0) < 1e-6
    assert spool.damaged.entries() == []


def test_journal_of_a_dead_process_becomes_a_spool_item(tmp_path):
    spool = Spool(tmp_path / "spool")
    script = textwrap.dedent(f"""
        import os, numpy as np
        from daemon.storage.spool import Spool, SpeechJournal, SAMPLE_RATE
        spool = Spool(__import__("pathlib").Path({str(spool.directory)!r}))
        journal = SpeechJournal(spool, owner="victim")
        samples = (np.ones(SAMPLE_RATE) * 1000).astype(np.int16)
        blocks = [samples[:8000], samples[8000:]]
        uid = journal.update(profile="p", source="mic", start=500.0, blocks=blocks[:1])
        journal.update(profile="p", source="mic", start=500.0, blocks=blocks)
        print(uid, flush=True)
        os.kill(os.getpid(), 9)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    uid = out.stdout.strip()
    assert uid, out.stderr
    recovered = recover_journals(spool, store_has=lambda u: False)
    assert [r.uid for r in recovered] == [uid]
    assert recovered[0].start == 500.0 and abs(recovered[0].duration - 1.0) < 1e-6
    assert not list(spool.directory.glob(".journal-*"))
    assert recover_journals(spool, store_has=lambda u: False) == []


def test_journal_of_a_live_owner_is_left_alone(tmp_path):
    spool = Spool(tmp_path / "spool")
    journal = SpeechJournal(spool, owner="alive")
    journal.update(profile="p", source="mic", start=1.0, blocks=[tone(1.0)])
    assert recover_journals(spool, store_has=lambda u: False) == []
    journal.close()
    assert not list(spool.directory.glob(".journal-*"))


def test_recovery_skips_an_utterance_already_stored(tmp_path):
    spool = Spool(tmp_path / "spool")
    journal = SpeechJournal(spool, owner="x")
    uid = journal.update(profile="p", source="mic", start=1.0, blocks=[tone(1.0)])
    journal._pcm.close()
    import os

    os.close(journal._lock_fd)  # as if the owner died after committing
    assert recover_journals(spool, store_has=lambda u: u == uid) == []
    assert len(spool) == 0


def test_journal_is_not_a_pending_item(tmp_path):
    spool = Spool(tmp_path / "spool")
    journal = SpeechJournal(spool, owner="live")
    journal.update(profile="p", source="mic", start=1.0, blocks=[tone(1.0)])
    assert spool.pending() == [] and len(spool) == 0
    assert journal.meta_path.exists() and not (spool.directory / "damaged").exists()
    journal.close()
