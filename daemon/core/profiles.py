"""Profiles: YAML files validated into frozen dataclasses, errors as FILE:LINE: key: expected ...

Built-in profiles ship in the package (`profiles/` in the source tree); a user's file of the
same name in the config dir's `profiles/` replaces the built-in one.
"""

from __future__ import annotations

import dataclasses
import re
import typing
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from daemon.core.activation import parse_window
from daemon.core.errors import ProfileError
from daemon.core.paths import shipped_files
from daemon.core.schedule import parse_schedule

__all__ = [
    "Profile",
    "Transcription",
    "Segmentation",
    "Retention",
    "Export",
    "CustomSection",
    "Redaction",
    "LanguageModel",
    "Activation",
    "SECTIONS",
    "load_profile",
    "load_profile_file",
    "list_profiles",
    "profile_files",
    "DEFAULT_PROFILE",
    "BUNDLED_MODEL",
]

DEFAULT_PROFILE = "default"
BUNDLED_MODEL = "bundled"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class TranscriptionServer:
    """An OpenAI-compatible transcription server (`POST /v1/audio/transcriptions`: vLLM,
    speaches, whisper.cpp's server, a hosted API) that transcribes in place of the local model;
    off when `url` is empty. Audio leaves the machine when the server is not on it."""

    url: str = ""  # its API root, e.g. http://gpu-box:8000/v1
    model: str = ""  # the model name the server knows, e.g. Systran/faster-whisper-large-v3
    api_key_env: str = ""  # the environment variable holding the API key
    api_key_file: str = ""  # or a file holding it (never the key itself in the profile)
    timeout_s: int = 60
    in_flight: int = 1  # utterances sent at once: a server that runs them in parallel drains faster
    fallback: str = "none"  # "local": the local model transcribes once the server has been away...
    fallback_after_s: int = 600  # ...this long


@dataclass(frozen=True)
class Transcription:
    """How a profile's speech is turned into text."""

    model: str = BUNDLED_MODEL
    language: str = "en"
    vocabulary: tuple[str, ...] = ()
    beam_size: int = 5
    threads: int = 0
    server: TranscriptionServer = field(default_factory=TranscriptionServer)


@dataclass(frozen=True)
class Segmentation:
    """How the voice-activity detector cuts speech into utterances."""

    threshold: float = 0.5
    min_silence_ms: int = 900
    pre_roll_ms: int = 300
    min_speech_ms: int = 250
    max_utterance_s: float = 28.0
    progressive_after_s: float = 1.5  # speech this long ends at its next short pause (0: never)


@dataclass(frozen=True)
class Retention:
    """What is kept of what was heard, and for how long (0 days: for ever)."""

    keep_audio: bool = False
    audio_days: int = 0
    transcript_days: int = 0


SECTIONS = {
    "conversations": "One note per conversation, each with the other sections inside",
    "highlights": "Overview",
    "action_items": "Action items",
    "decisions": "Decisions",
    "questions": "Open questions",
    "definitions": "Key terms and their definitions",
    "key_terms": "Key terms of the period",
    "mentions": "People mentioned",
    "outline": "Outline",
    "timeline": "Timeline",
}


@dataclass(frozen=True)
class Activation:
    """When the profile switches itself on (beside being chosen by hand)."""

    windows: tuple[str, ...] = ()  # "weekdays 09:00-17:00", "sat,sun 10:00-12:00"
    when_device: str = ""  # while an input device whose name contains this is present


@dataclass(frozen=True)
class Redaction:
    """What never reaches the store, the index or an export."""

    detectors: tuple[str, ...] = ("email", "phone", "card")
    patterns: tuple[str, ...] = ()  # regular expressions of your own (Python syntax, any case)


@dataclass(frozen=True)
class CustomSection:
    """A section a profile declares: sentences with any of its phrases or patterns."""

    title: str = ""
    triggers: tuple[str, ...] = ()  # phrases, matched as whole words in any case
    patterns: tuple[str, ...] = ()  # regular expressions (Python syntax, any case)


@dataclass(frozen=True)
class LanguageModel:
    """An OpenAI-compatible chat endpoint the user runs (Ollama, llama.cpp); off when empty."""

    endpoint: str = ""  # e.g. http://localhost:11434/v1
    model: str = ""  # e.g. llama3.2
    timeout_s: int = 120


@dataclass(frozen=True)
class Export:
    """The summary a profile writes: its sections, format and folder."""

    sections: tuple[str, ...] = ("highlights", "action_items", "decisions", "questions")
    custom_sections: tuple[CustomSection, ...] = ()
    format: str = "md"
    destination: str = ""  # a folder; empty: exports/ in the data folder
    schedules: tuple[str, ...] = ()  # "daily", "daily 18:00", "weekly fri 17:00", "every 14 days"
    language_model: LanguageModel = field(default_factory=LanguageModel)
    conversation_gap_min: int = 5  # a pause this long starts a new conversation
    talk_is_called: str = "conversation"  # the overview says "The meeting was about ..."


@dataclass(frozen=True)
class Profile:
    """One kind of listening: what to hear, how to transcribe it, what to keep."""

    name: str
    description: str = ""
    sources: tuple[str, ...] = ("microphone",)
    transcription: Transcription = field(default_factory=Transcription)
    segmentation: Segmentation = field(default_factory=Segmentation)
    activation: Activation = field(default_factory=Activation)
    retention: Retention = field(default_factory=Retention)
    redaction: Redaction = field(default_factory=Redaction)
    export: Export = field(default_factory=Export)


def parse_server_url(url: str) -> str:
    """A transcription server's API root: http(s)://host[:port][/path]."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// address, got {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"expected an address without ? or #, got {url!r}")
    if parts.username or parts.password:
        raise ValueError(
            "expected an address without a user name or password (the key goes in api_key_env "
            "or api_key_file)"
        )
    try:
        parts.port  # noqa: B018 - raises for a port that is not one
    except ValueError:
        raise ValueError(f"expected a port from 1 to 65535, got {url!r}") from None
    return url


_RANGES: dict[tuple[type, str], tuple[float, float]] = {
    (Transcription, "beam_size"): (1, 20),
    (Transcription, "threads"): (0, 256),
    (Segmentation, "threshold"): (0.05, 0.95),
    (Segmentation, "min_silence_ms"): (100, 10_000),
    (Segmentation, "pre_roll_ms"): (0, 2_000),
    (Segmentation, "min_speech_ms"): (0, 5_000),
    (Segmentation, "max_utterance_s"): (2, 30),
    (Segmentation, "progressive_after_s"): (0, 30),
    (Export, "conversation_gap_min"): (1, 24 * 60),
    (Retention, "audio_days"): (0, 36_500),
    (LanguageModel, "timeout_s"): (1, 3_600),
    (TranscriptionServer, "timeout_s"): (1, 3_600),
    (TranscriptionServer, "in_flight"): (1, 64),
    (TranscriptionServer, "fallback_after_s"): (0, 7 * 24 * 3_600),
    (Retention, "transcript_days"): (0, 36_500),
}
_CHOICES: dict[tuple[type, str], tuple[str, ...]] = {
    (Export, "sections"): tuple(SECTIONS),
    (Export, "format"): ("md", "json"),
    (Redaction, "detectors"): ("email", "phone", "card"),
    (TranscriptionServer, "fallback"): ("none", "local"),
}
_REGEXES = {(CustomSection, "patterns"), (Redaction, "patterns")}
_PARSED = {  # values checked by parsing them
    (Export, "schedules"): parse_schedule,
    (Activation, "windows"): parse_window,
    (TranscriptionServer, "url"): parse_server_url,
}

_TYPE_WORDS = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}
_constructor = yaml.constructor.SafeConstructor()


def _where(source: str, node: yaml.Node) -> str:
    return f"{source}:{node.start_mark.line + 1}"


def _scalar(node: yaml.Node, expected: type, source: str, key: str):
    if not isinstance(node, yaml.ScalarNode):
        raise ProfileError(f"{_where(source, node)}: {key}: expected {_TYPE_WORDS[expected]}")
    value = _constructor.construct_object(node, deep=True)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if expected is str and value is None:
        value = ""
    if expected is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = node.value
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ProfileError(
            f"{_where(source, node)}: {key}: expected {_TYPE_WORDS[expected]}, got {node.value!r}"
        )
    return value


def _build(cls: type, node: yaml.Node, source: str, prefix: str, extra: dict | None = None):
    """An instance of dataclass `cls` from a YAML mapping, each key checked against its field;
    `extra` holds fields set by the caller, which the file may not set."""
    if not isinstance(node, yaml.MappingNode):
        what = prefix.rstrip(".") or "the profile"
        raise ProfileError(f"{_where(source, node)}: {what}: expected a mapping of keys")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values: dict = dict(extra or {})
    for key_node, value_node in node.value:
        key = str(key_node.value)
        path = prefix + key
        if key not in known or key in values:
            expected = ", ".join(sorted(known - set(extra or {})))
            raise ProfileError(
                f"{_where(source, key_node)}: {path}: unknown key (expected one of {expected})"
            )
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            values[key] = _build(hint, value_node, source, path + ".")
        elif typing.get_origin(hint) is tuple:
            item_type = typing.get_args(hint)[0]
            values[key] = _list(cls, key, item_type, value_node, source, path)
        else:
            values[key] = _single(cls, key, hint, value_node, source, path)
    return cls(**values)


def _list(cls: type, key: str, item_type: type, node: yaml.Node, source: str, path: str) -> tuple:
    """A list of mappings, each built into `item_type`, or of strings, each checked; an empty
    value is an empty list."""
    if isinstance(node, yaml.ScalarNode) and node.value == "":
        return ()
    if not isinstance(node, yaml.SequenceNode):
        what = "a list of mappings" if dataclasses.is_dataclass(item_type) else "a list of strings"
        raise ProfileError(f"{_where(source, node)}: {path}: expected {what}")
    if dataclasses.is_dataclass(item_type):
        return tuple(
            _build(item_type, item, source, f"{path}[{i}].") for i, item in enumerate(node.value)
        )
    return tuple(_list_item(cls, key, item, source, path) for item in node.value)


def _list_item(cls: type, key: str, node: yaml.Node, source: str, path: str) -> str:
    """One string of a list, checked as its field asks: one of the choices, parsed, or compiled
    as a regular expression."""
    text = _scalar(node, str, source, path)
    _check_choice(cls, key, text, node, source, path)
    _check_parsed(cls, key, text, node, source, path)
    if (cls, key) in _REGEXES:
        try:
            re.compile(text)
        except re.error as exc:
            raise ProfileError(
                f"{_where(source, node)}: {path}: {text!r} is not a valid regular "
                f"expression ({exc})"
            ) from None
    return text


def _single(cls: type, key: str, hint: type, node: yaml.Node, source: str, path: str):
    """One value of type `hint`, checked as its field asks: one of the choices, parsed, or within
    the range."""
    value = _scalar(node, hint, source, path)
    _check_choice(cls, key, value, node, source, path)
    _check_parsed(cls, key, value, node, source, path)
    bounds = _RANGES.get((cls, key))
    if bounds and not bounds[0] <= value <= bounds[1]:
        raise ProfileError(
            f"{_where(source, node)}: {path}: expected a value from {bounds[0]:g} "
            f"to {bounds[1]:g}, got {value!r}"
        )
    return value


def _check_choice(cls: type, key: str, value, node: yaml.Node, source: str, path: str) -> None:
    choices = _CHOICES.get((cls, key))
    if choices and value not in choices:
        raise ProfileError(
            f"{_where(source, node)}: {path}: expected one of {', '.join(choices)}, got {value!r}"
        )


def _check_parsed(cls: type, key: str, value, node: yaml.Node, source: str, path: str) -> None:
    parse = _PARSED.get((cls, key))
    if parse is not None and value:
        try:
            parse(value)
        except ValueError as exc:
            raise ProfileError(f"{_where(source, node)}: {path}: {exc}") from None


def parse_profile(text: str, *, source: str, name: str) -> Profile:
    """Validate YAML text into a Profile; `source` names the file in error messages."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProfileError(f"{source}{line}: not valid YAML ({problem})") from None
    if node is None:
        raise ProfileError(f"{source}:1: the profile is empty; expected a mapping of keys")
    declared = _declared_name(node)
    if declared is not None and declared.value != name:
        raise ProfileError(
            f"{_where(source, declared)}: name: expected {name!r} to match the file name, "
            f"got {declared.value!r}"
        )
    _drop_name(node)
    return _build(Profile, node, source, "", extra={"name": name})


def _declared_name(node: yaml.Node) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == "name":
                return value_node
    return None


def _drop_name(node: yaml.Node) -> None:
    if isinstance(node, yaml.MappingNode):
        node.value = [(k, v) for k, v in node.value if k.value != "name"]


def load_profile_file(path: Path) -> Profile:
    """Read and validate one profile file; its name is the file's stem."""
    name = path.stem
    if not _NAME.match(name):
        raise ProfileError(
            f"{path}: the file name must be a profile name (lower-case letters, digits, - and _)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"{path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ProfileError(f"{path}: expected UTF-8 text") from None
    return parse_profile(text, source=str(path), name=name)


def _builtin_files() -> dict[str, Path]:
    """Built-in profiles: package data in an installed wheel, `profiles/` in a source checkout."""
    shipped = shipped_files("daemon.builtin_profiles", "profiles")
    return {path.stem: path for name, path in shipped.items() if name.endswith(".yaml")}


def profile_files(user_dir: Path) -> dict[str, Path]:
    """Every profile by name: built-ins, replaced by the user's files of the same name."""
    files = _builtin_files()
    if user_dir.is_dir():
        for path in sorted(user_dir.glob("*.yaml")):
            files[path.stem] = path
    return dict(sorted(files.items()))


def list_profiles(user_dir: Path) -> list[str]:
    """The names of all profiles, built-in and the user's."""
    return list(profile_files(user_dir))


def load_profile(name: str, user_dir: Path) -> Profile:
    """Load a profile by name, the user's file taking precedence over the built-in one."""
    files = profile_files(user_dir)
    if name not in files:
        raise ProfileError(
            f"there is no profile named {name!r}; known profiles: {', '.join(files) or 'none'}"
        )
    return load_profile_file(files[name])
