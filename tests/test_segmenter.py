import wave

import numpy as np
import pytest
from realparts import talk_on

from daemon.capture.segmenter import Segmenter
from daemon.core.profiles import Segmentation
from daemon.storage.spool import SAMPLE_RATE

T0 = 1_700_000_000.0


def read(path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)


def noise(seconds: float, level: float = 300) -> np.ndarray:
    rng = np.random.default_rng(7)
    return (rng.standard_normal(int(seconds * SAMPLE_RATE)) * level).astype(np.int16)


def run(segmenter: Segmenter, audio: np.ndarray, block: int = 1600):
    out = []
    for i in range(0, len(audio), block):
        out += segmenter.feed(T0 + i / SAMPLE_RATE, audio[i : i + block], "mic")
    return out + segmenter.flush()


def test_silence_and_noise_produce_nothing():
    segmenter = Segmenter(Segmentation())
    assert run(segmenter, np.concatenate([silence(5), noise(5), silence(2)])) == []
    assert segmenter.windows_seen > 300


def test_two_sentences_apart_become_two_utterances_at_the_right_times(speak):
    speech = read(speak("The budget review moves to next Tuesday.", pad_s=0.0))
    audio = np.concatenate([silence(2), speech, silence(2), noise(1), speech, silence(1.5)])
    utterances = run(Segmenter(Segmentation()), audio)
    assert len(utterances) == 2
    first_speech = 2 + np.argmax(np.abs(speech) > 500) / SAMPLE_RATE
    assert abs(utterances[0].start - (T0 + first_speech)) < 0.5
    last_voice = 2 + (len(speech) - np.argmax(np.abs(speech[::-1]) > 500)) / SAMPLE_RATE
    assert abs(utterances[0].speech_end - (T0 + last_voice)) < 0.3
    for u in utterances:
        assert u.speech_end <= u.start + u.duration
        assert abs(u.duration - len(speech) / SAMPLE_RATE) < 1.0
        assert u.source == "mic" and u.samples.dtype == np.int16
    assert utterances[1].start > utterances[0].start + utterances[0].duration


@pytest.mark.parametrize("block", [160, 512, 4000])
def test_block_size_does_not_change_the_cut(speak, block):
    speech = read(speak("Please bring the revised forecast.", pad_s=0.0))
    audio = np.concatenate([silence(1), speech, silence(1)])
    reference = run(Segmenter(Segmentation()), audio)
    other = run(Segmenter(Segmentation()), audio, block=block)
    assert [(round(u.start, 2), len(u.samples)) for u in other] == [
        (round(u.start, 2), len(u.samples)) for u in reference
    ]


def test_long_speech_is_split_below_the_limit(speak):
    sentence = read(
        speak("We reviewed the budget and the schedule for the next quarter", pad_s=0.0)
    )
    pause = silence(0.25)  # shorter than min_silence_ms: one utterance unless split
    audio = np.concatenate([silence(1)] + [sentence, pause] * 6 + [silence(1)])
    settings = Segmentation(max_utterance_s=8.0, progressive_after_s=0)
    utterances = run(Segmenter(settings), audio)
    assert len(utterances) >= 2
    assert all(u.duration <= 8.0 + 0.05 for u in utterances)
    heard = sum(u.duration for u in utterances)
    assert heard >= 6 * len(sentence) / SAMPLE_RATE * 0.95  # nothing of the speech dropped


def test_current_speech_is_visible_while_speaking(speak):
    speech = read(speak("Hello there, this is a test of the journal.", pad_s=0.0))
    segmenter = Segmenter(Segmentation())
    segmenter.feed(T0, np.concatenate([silence(1), speech[: len(speech) // 2]]), "mic")
    current = segmenter.current_speech()
    assert current is not None
    start, windows = current
    assert start < T0 + 1.5 and sum(len(w) for w in windows) > SAMPLE_RATE // 2
    assert segmenter.flush() and segmenter.current_speech() is None


def test_flush_judges_the_audio_still_waiting_for_a_batch(speak):
    speech = read(speak("Please bring the revised forecast.", pad_s=0.0))
    segmenter = Segmenter(Segmentation())
    # one call with speech and then a tail shorter than a detector batch: the flush must see both
    out = segmenter.feed(T0, np.concatenate([silence(0.5), speech]), "mic")
    out += segmenter.feed(T0 + 0.5 + len(speech) / SAMPLE_RATE, silence(0.2), "mic")
    out += segmenter.flush()
    assert len(out) == 1
    assert out[0].duration >= len(speech) / SAMPLE_RATE - 0.1


def four_sentences(speak) -> tuple[np.ndarray, list[float], list[float]]:
    return talk_on(
        speak,
        [
            "We reviewed the budget for the next quarter.",
            "The birch canoe slid on the smooth planks.",
            "Glue the sheet to the dark blue background.",
            "It is easy to tell the depth of a well.",
        ],
    )


def heard_when(segmenter: Segmenter, audio: np.ndarray, block: int = 1600):
    """Each utterance with the audio time (seconds from the start) at which it was emitted."""
    out = []
    for i in range(0, len(audio), block):
        done = segmenter.feed(T0 + i / SAMPLE_RATE, audio[i : i + block], "mic")
        out += [(u, (i + block) / SAMPLE_RATE) for u in done]
    return out + [(u, len(audio) / SAMPLE_RATE) for u in segmenter.flush()]


def test_talk_without_a_long_pause_is_cut_at_its_short_pauses_as_it_goes(speak):
    audio, starts, ends = four_sentences(speak)
    heard = heard_when(Segmenter(Segmentation()), audio)
    assert len(heard) == len(ends)
    for (utterance, emitted), start, end in zip(heard, starts, ends, strict=True):
        assert utterance.start <= T0 + start < T0 + end <= utterance.start + utterance.duration
        assert emitted - end < 0.8  # out while the next sentence is being said
    # without it, the talk is one utterance, out only after the long pause at the end; so is a
    # recording cut after the fact, which no one waits on
    switched_off = heard_when(Segmenter(Segmentation(progressive_after_s=0)), audio)
    after_the_fact = heard_when(Segmenter(Segmentation(), live=False), audio)
    for whole in (switched_off, after_the_fact):
        assert len(whole) == 1 and whole[0][1] > ends[-1] + 0.9


def test_a_breath_inside_talk_does_not_cut_it(speak):
    # cut at pauses this short, real talk split inside its sentences and each part was
    # transcribed worse than the whole
    sentences = ["We reviewed the budget for the next quarter", "and the birch canoe slid on"]
    audio, starts, ends = talk_on(speak, sentences * 2, gap_s=0.3)
    heard = heard_when(Segmenter(Segmentation()), audio)
    assert len(heard) == 1
    whole = heard[0][0]
    assert whole.start <= T0 + starts[0] < T0 + ends[-1] <= whole.start + whole.duration


def test_after_a_short_pause_the_next_utterance_still_has_its_pre_roll(speak):
    audio, starts, _ = four_sentences(speak)
    heard = heard_when(Segmenter(Segmentation(pre_roll_ms=300)), audio)
    for (utterance, _), start in zip(heard[1:], starts[1:], strict=True):
        # the quiet the last utterance kept as its tail is this one's pre-roll too
        assert T0 + start - utterance.start >= 0.2


def test_a_quiet_voice_after_a_loud_one_is_heard_from_its_first_word(speak):
    # the detector's state adapts to the voice it has been hearing: half a minute of someone
    # speaking up left it deaf to a quiet "Hello?" seconds later, until it heard itself afresh
    loud, _, _ = talk_on(
        speak,
        ["We reviewed the budget for the next quarter and agreed to hire two engineers."] * 4,
        lead_s=0.2,
        tail_s=2.0,
    )
    quiet, starts, _ = talk_on(speak, ["Hello? Is anyone there?"], lead_s=0.0)
    audio = np.concatenate([loud, (quiet * 0.03).astype(np.int16)])
    heard = run(Segmenter(Segmentation()), audio)
    first_sound = T0 + (len(loud) / SAMPLE_RATE) + starts[0]
    assert any(u.start <= first_sound < u.start + u.duration for u in heard)
