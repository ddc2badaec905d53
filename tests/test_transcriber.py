import os
import wave

import numpy as np
import pytest

from daemon.core.profiles import Transcription
from daemon.transcribe.transcriber import Transcriber, usable_cores

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


def test_an_utterance_costs_one_window_and_a_token_budget_for_its_length(transcriber, speak):
    audio = read(speak("Please bring the revised forecast to the meeting."))
    audio = np.concatenate([audio, np.zeros(8000, dtype=np.float32)])  # the kept 0.5 s tail
    model = transcriber._model
    encoded, limits = [], []
    encode, generate = model.encode, model.generate_with_fallback

    def spy_encode(features):
        encoded.append(features.shape[-1])
        return encode(features)

    def spy_generate(encoder_output, prompt, tokenizer, options):
        result = generate(encoder_output, prompt, tokenizer, options)
        limits.append((model.token_limit, len(result[0].sequences_ids[0])))
        return result

    model.encode, model.generate_with_fallback = spy_encode, spy_generate
    try:
        segments, _ = transcriber.transcribe(audio)
    finally:
        del model.encode, model.generate_with_fallback
    assert "revised forecast" in " ".join(s.text for s in segments).lower()
    assert len(encoded) == 1  # one window: none more for the silent tail
    assert model.window_frames == 1000  # of which the encoder sees 10 s, not 30
    seconds = len(audio) / 16000
    assert limits[0][0] == int(seconds * 8) + 16 and limits[0][1] <= limits[0][0]


def test_speech_the_model_passes_over_is_decoded_after_all(transcriber):
    # Whisper ends a window with a lone timestamp when it takes what follows for silence; in
    # an utterance the speech detector heard speech to the end, so a second or more left over
    # is decoded as a window of its own (tiny.en passed over the last 6 s of a 24 s utterance)
    from faster_whisper.tokenizer import Tokenizer

    model = transcriber._model
    tokenizer = Tokenizer(model.hf_tokenizer, False, task="transcribe", language="en")
    words = tokenizer.encode(" Well, there isn't that much difference.")
    at = lambda seconds: tokenizer.timestamp_begin + round(seconds / 0.02)  # noqa: E731
    tokens = [at(0.0), *words, at(3.0), at(3.0), *words, at(7.0)]

    def split(frames):
        return model._split_segments_by_timestamps(
            tokenizer=tokenizer,
            tokens=tokens,
            time_offset=0.0,
            segment_size=frames,
            segment_duration=frames / 100,
            seek=0,
        )

    segments, seek, single_ending = split(2371)  # 23.7 s of speech
    assert len(segments) == 2 and seek == 700 and not single_ending
    segments, seek, single_ending = split(750)  # only the quiet tail the segmenter keeps
    assert len(segments) == 2 and seek == 750 and single_ending


def test_a_long_vocabulary_is_cut_to_what_the_prompt_holds_and_speech_still_comes_through(
    speak, caplog
):
    terms = ("Photosynthesis", *(f"Term{i}" for i in range(149)))  # some 600 tokens
    t = Transcriber(Transcription(vocabulary=terms, threads=2))
    segments, _ = t.transcribe(read(speak("The concert starts at eight.")))
    # a full prompt of made-up terms may bend the words ("The concert started surveyed."), but
    # speech comes through: uncut, the prompt left no room and nothing was transcribed at all
    assert "concert" in " ".join(s.text for s in segments).lower()
    used = t.options()["initial_prompt"].split(", ")
    assert used == list(terms[: len(used)]) and 10 < len(used) < len(terms)
    assert f"its first {len(used)} terms are used" in caplog.text


def test_vocabulary_reaches_the_model(speak):
    t = Transcriber(Transcription(vocabulary=("Earmark",), threads=2))
    assert t.options()["initial_prompt"] == "Earmark"
    assert t.options()["hotwords"] == "Earmark"


def test_near_silence_yields_nothing_indexable(transcriber):
    rng = np.random.default_rng(1)
    hiss = (rng.standard_normal(16000 * 3) * 0.003).astype(np.float32)
    segments, _ = transcriber.transcribe(hiss)
    assert all(s.flag is not None for s in segments)


def test_live_speech_is_transcribed_on_one_thread_and_an_import_on_every_core(speak):
    audio = read(speak("Please bring the revised forecast to the meeting."))
    live = Transcriber(Transcription(), live=True)
    segments, _ = live.transcribe(audio)
    assert live.threads == 1 and "revised forecast" in " ".join(s.text for s in segments).lower()
    imported = Transcriber(Transcription())
    imported.load()
    assert imported.threads == usable_cores() == len(os.sched_getaffinity(0))
    named = Transcriber(Transcription(threads=2), live=True)
    named.load()
    assert named.threads == 2  # the profile's number wins
