"""The named errors Earmark's library raises; the CLI turns each into one plain sentence."""

from __future__ import annotations

__all__ = [
    "EarmarkError",
    "ProfileError",
    "QueryError",
    "TimeSpecError",
    "ImportFailed",
    "SpoolUnwritable",
    "SpoolFull",
    "DeviceNotFound",
    "DeviceLost",
    "DaemonNotRunning",
    "DaemonAlreadyRunning",
    "ModelError",
]


class EarmarkError(Exception):
    """Base of every error that is reported to the user as one sentence."""


class ProfileError(EarmarkError):
    """A profile file is missing, unreadable, or does not match the schema."""


class QueryError(EarmarkError):
    """A search query could not be understood."""


class TimeSpecError(EarmarkError):
    """A time such as --since or --at could not be understood."""


class ImportFailed(EarmarkError):
    """A file given to `earmark import` could not be read as audio."""


class SpoolUnwritable(EarmarkError):
    """The spool cannot take an utterance now (no space, no file descriptors, no permission)."""


class SpoolFull(SpoolUnwritable):
    """The disk holding the spool has no room for another utterance."""


class DeviceNotFound(EarmarkError):
    """No audio input device matches what was asked for."""


class DeviceLost(EarmarkError):
    """The audio input device stopped delivering audio."""


class DaemonNotRunning(EarmarkError):
    """No Earmark daemon answers on the control endpoint."""


class DaemonAlreadyRunning(EarmarkError):
    """Another Earmark daemon already runs for this user."""


class ModelError(EarmarkError):
    """The speech model could not be found or loaded."""
