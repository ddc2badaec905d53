"""The seam every audio source implements: the microphone, a file, and (later) a wearable."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

__all__ = ["AudioBlock", "Source", "LISTENING", "WAITING", "ENDED"]

LISTENING = "listening"
WAITING = "waiting"
ENDED = "ended"


@dataclass(frozen=True)
class AudioBlock:
    """16 kHz mono int16 samples; `start` is the wall-clock time of the first one."""

    start: float
    samples: np.ndarray
    source: str


class Source(ABC):
    """Something that hears. `state` is LISTENING, WAITING (with `reason`) or ENDED."""

    name: str = "source"
    state: str = WAITING
    reason: str | None = None

    def start(self) -> None:
        """Begin capturing; must return at once (waiting happens in the background)."""

    def stop(self) -> None:
        """Stop capturing and release the device."""

    @abstractmethod
    def read(self, timeout: float) -> AudioBlock | None:
        """The next block, or None if none came within `timeout` seconds or the source ended."""
