from pathlib import Path

import pytest

from daemon.core.errors import ProfileError
from daemon.core.profiles import Profile, list_profiles, load_profile, load_profile_file


def write(tmp_path: Path, text: str, name: str = "work") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_builtin_default_profile_is_valid(tmp_path):
    profile = load_profile("default", tmp_path)
    assert isinstance(profile, Profile)
    assert profile.name == "default"
    assert profile.transcription.model == "bundled"
    assert profile.transcription.language == "en"
    assert "default" in list_profiles(tmp_path)


def test_user_profile_overrides_builtin(tmp_path):
    write(tmp_path, "description: mine\ntranscription:\n  beam_size: 2\n", name="default")
    profile = load_profile("default", tmp_path)
    assert profile.description == "mine"
    assert profile.transcription.beam_size == 2
    assert profile.segmentation.min_silence_ms == 900  # defaults fill what the file leaves out


def test_vocabulary_list(tmp_path):
    path = write(tmp_path, "transcription:\n  vocabulary: [Earmark, Kubernetes]\n")
    assert load_profile_file(path).transcription.vocabulary == ("Earmark", "Kubernetes")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("description: x\ncolour: red\n", ":2: colour: unknown key"),
        (
            "segmentation:\n  threshold: high\n",
            ":2: segmentation.threshold: expected a number, got 'high'",
        ),
        (
            "transcription:\n  beam_size: 2.5\n",
            ":2: transcription.beam_size: expected a whole number",
        ),
        (
            "transcription:\n  beam_size: 0\n",
            ":2: transcription.beam_size: expected a value from 1 to 20",
        ),
        ("retention:\n  keep_audio: maybe\n", ":2: retention.keep_audio: expected true or false"),
        ("transcription: fast\n", ":1: transcription: expected a mapping of keys"),
        ("sources: microphone\n", ":1: sources: expected a list of strings"),
        ("segmentation:\n  threshold: [1\n", ": not valid YAML"),
        ("- a\n- b\n", ":1: the profile: expected a mapping of keys"),
        ("", ":1: the profile is empty"),
        ("name: other\n", ":1: name: expected 'work' to match the file name"),
        (
            "export:\n  sections: [decisions, gossip]\n",
            ":2: export.sections: expected one of conversations, highlights, action_items, "
            "decisions, questions, definitions, key_terms, mentions, outline, timeline, "
            "got 'gossip'",
        ),
        ("export:\n  format: pdf\n", ":2: export.format: expected one of md, json, got 'pdf'"),
        (
            "export:\n  schedules: [hourly]\n",
            ":2: export.schedules: expected 'daily HH:MM', 'weekly DAY HH:MM' or 'every N days "
            "HH:MM', got 'hourly'",
        ),
        (
            "export:\n  custom_sections:\n    - title: Ideas\n      patterns: ['(unclosed']\n",
            ":4: export.custom_sections[0].patterns: '(unclosed' is not a valid regular "
            "expression (missing ), unterminated subpattern at position 0)",
        ),
        (
            "export:\n  custom_sections:\n    - title: Ideas\n      trigger: [idea]\n",
            ":4: export.custom_sections[0].trigger: unknown key (expected one of patterns, "
            "title, triggers)",
        ),
        (
            "export:\n  custom_sections: Ideas\n",
            ":2: export.custom_sections: expected a list of mappings",
        ),
    ],
)
def test_bad_profiles_name_file_line_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as err:
        load_profile_file(path)
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_builtin_profiles_for_kinds_of_user_are_valid(tmp_path):
    for name in ("meetings", "lectures", "researcher", "journal"):
        profile = load_profile(name, tmp_path)
        assert profile.description and profile.export.sections
    researcher = load_profile("researcher", tmp_path)
    assert [c.title for c in researcher.export.custom_sections] == [
        "Ideas",
        "Experiments",
        "What failed",
        "Papers and tools",
    ]


def test_unknown_profile_lists_known_ones(tmp_path):
    known = "default, journal, lectures, meetings, researcher"
    with pytest.raises(ProfileError, match=f"no profile named 'nope'; known profiles: {known}$"):
        load_profile("nope", tmp_path)
