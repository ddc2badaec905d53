import pytest

from daemon.transcribe.transcriber import judge_segment


def judge(text, *, avg_logprob=-0.3, no_speech_prob=0.1, compression_ratio=1.3):
    return judge_segment(
        text,
        avg_logprob=avg_logprob,
        no_speech_prob=no_speech_prob,
        compression_ratio=compression_ratio,
    )


@pytest.mark.parametrize(
    "text",
    [
        "The budget review moves to next Tuesday.",
        "Thank you, Alice, that settles it.",
        "No, no, we decided against it.",
        # two people calling out before they talk: a repeated word, then a real sentence
        "Hello. Hello. Hello. Hello. I didn't know you were there. Neither did I.",
    ],
)
def test_real_speech_passes(text):
    assert judge(text) is None


def test_confident_thank_you_is_kept():
    assert judge("Thank you.", avg_logprob=-0.2, no_speech_prob=0.05) is None


@pytest.mark.parametrize(
    ("text", "kwargs", "reason"),
    [
        ("Thank you.", {"no_speech_prob": 0.5}, "known invention"),
        ("Thanks for watching!", {"avg_logprob": -0.9}, "known invention"),
        ("you you you you you", {}, "repetition"),
        ("So the plan is the the the the the the", {}, "repetition"),
        ("I'm going to go to the I'm going to go to the I'm going to go to the", {}, "repetition"),
        ("so so so so so so so so", {"compression_ratio": 3.1}, "repetition"),
        # text that looks fine word by word, but that Whisper's own figure says loops
        (
            "We will meet on Tuesday to talk it over.",
            {"compression_ratio": 3.1},
            "repetition: compression ratio 3.1",
        ),
        ("Hmm.", {"no_speech_prob": 0.8, "avg_logprob": -1.3}, "no speech"),
        ("...", {}, "empty"),
    ],
)
def test_known_inventions_are_flagged(text, kwargs, reason):
    assert judge(text, **kwargs).startswith(reason)


def test_encoder_window_fits_the_utterance():
    from daemon.transcribe.transcriber import _window_frames

    assert _window_frames(16_000 * 3) == 1000  # short speech: the 10 s floor
    assert _window_frames(16_000 * 25) == 2600  # its length plus a second
    assert _window_frames(16_000 * 40) == 3000  # never more than Whisper's 30 s
