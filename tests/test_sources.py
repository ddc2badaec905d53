import os
import subprocess

import numpy as np
import pytest

from daemon.capture.sources.base import ENDED
from daemon.capture.sources.file import FileSource
from daemon.capture.sources.microphone import Microphone
from daemon.core.errors import ImportFailed
from daemon.storage.spool import SAMPLE_RATE
from daemon.wearable.source import Wearable


def tone(rate: int, seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * freq * t) * 10000).astype(np.int16)


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float32)))
    return float(np.argmax(spectrum) * rate / len(samples))


def test_microphone_resamples_a_48k_device_to_16k():
    import av

    mic = Microphone()
    mic._rate = 48_000
    mic._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    out = np.concatenate([mic._resample(block) for block in np.split(tone(48_000, 2.0), 20)])
    assert abs(len(out) - 2 * SAMPLE_RATE) < 400  # the resampler holds back a few ms at most
    assert abs(dominant_frequency(out[1000:], SAMPLE_RATE) - 440) < 2


def write_wav(path, samples, rate):
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


def test_file_source_decodes_to_16k_mono_blocks_from_stereo_44k(tmp_path):
    src = tmp_path / "stereo.wav"
    mono = tmp_path / "mono.wav"
    write_wav(mono, tone(44_100, 1.5, 300), 44_100)
    subprocess.run(["sox", str(mono), "-c", "2", str(src)], check=True)
    source = FileSource(src, start=1000.0)
    blocks = []
    while (block := source.read(0)) is not None:
        blocks.append(block)
    assert source.state == ENDED
    samples = np.concatenate([b.samples for b in blocks])
    assert abs(len(samples) - 1.5 * SAMPLE_RATE) < 200
    assert blocks[0].start == 1000.0 and blocks[1].start == pytest.approx(1000.1)
    assert abs(dominant_frequency(samples, SAMPLE_RATE) - 300) < 2
    assert blocks[0].source == "file:stereo.wav"


def test_file_start_defaults_to_mtime_minus_length(tmp_path):
    path = tmp_path / "memo.wav"
    write_wav(path, tone(SAMPLE_RATE, 4.0), SAMPLE_RATE)
    os.utime(path, (1_800_000_000, 1_800_000_000))
    assert FileSource(path).start_time == pytest.approx(1_800_000_000 - 4.0)


def test_too_short_file_is_refused(tmp_path):
    path = tmp_path / "blip.wav"
    write_wav(path, tone(SAMPLE_RATE, 0.01), SAMPLE_RATE)
    with pytest.raises(ImportFailed, match="holds no audio"):
        FileSource(path)


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(ImportFailed, match="is a directory"):
        FileSource(tmp_path)


def test_a_wearable_keeps_every_sample_of_chunks_whose_stamps_jitter_and_drops_only_retries():
    # A device stamps each one-second chunk from its audio callback's clock, which on a busy
    # device runs up to ~0.15 s late: the next chunk then seems to start before this one ended.
    wearable = Wearable("pendant")
    chunks = [np.full(SAMPLE_RATE, i, dtype=np.int16) for i in range(4)]
    stamps = [100.0, 101.15, 102.0, 103.05]  # on time, late, on time, late
    for stamp, chunk in zip(stamps, chunks, strict=True):
        assert wearable.push(stamp, chunk) == 1.0
    assert wearable.push(102.0, chunks[2]) == 0.0  # a retry after a lost answer
    blocks = []
    while (block := wearable.read(0.01)) is not None:
        blocks.append(block)
    assert np.array_equal(np.concatenate([b.samples for b in blocks]), np.concatenate(chunks))
    starts = [b.start for b in blocks]
    assert starts == [100.0, 101.15, 102.15, 103.15]  # never running backwards
