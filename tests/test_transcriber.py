import wave

import numpy as np
import pytest

from daemon.profiles import Transcription
from daemon.transcriber import Transcriber

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def transcriber():
    t = Transcriber(Transcription(threads=2))
    t.load()
    return t


def read(path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return (
            np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768
        )


def test_bundled_model_transcribes_speech_with_words_and_figures(transcriber, speak):
    audio = read(speak("Please bring the revised forecast to the meeting."))
    segments, language = transcriber.transcribe(audio)
    text = " ".join(s.text for s in segments).lower()
    assert "revised forecast" in text and "meeting" in text
    assert language == "en"
    first = segments[0]
    assert first.flag is None
    assert -1.0 < first.avg_logprob < 0 and 0 <= first.no_speech_prob <= 1
    assert first.compression_ratio > 0
    assert first.words and all(a <= b for a, b, _, _ in first.words)
    assert first.words[-1][1] <= len(audio) / 16000 + 0.5
    assert transcriber.calls == 1


def test_vocabulary_reaches_the_model(speak):
    t = Transcriber(Transcription(vocabulary=("Earmark",), threads=2))
    assert t.options()["initial_prompt"] == "Earmark"
    assert t.options()["hotwords"] == "Earmark"


def test_near_silence_yields_nothing_indexable(transcriber):
    rng = np.random.default_rng(1)
    hiss = (rng.standard_normal(16000 * 3) * 0.003).astype(np.float32)
    segments, _ = transcriber.transcribe(hiss)
    assert all(s.flag is not None for s in segments)
