"""Wearable: live audio a paired network device streams to the daemon (docs/wearable-protocol.md).

The listener pushes each verified chunk in; capture reads it out like any other source. Chunks
carry the device's wall-clock time of their first sample. A chunk that repeats audio already
heard (a retry after a lost answer) is cut to what is new. When no chunk has come for 5 s the
device counts as gone ("stopped streaming") until the next one arrives.
"""

from __future__ import annotations

import queue
import time

import numpy as np

from daemon.sources.base import LISTENING, WAITING, AudioBlock, Source
from daemon.spool import SAMPLE_RATE

__all__ = ["Wearable"]

_GONE_AFTER_S = 5.0
_QUEUE_BLOCKS = 600  # a minute of one-second chunks that capture has not read yet


class Wearable(Source):
    def __init__(self, name: str):
        self.name = name
        self.reason = "waiting for the device's stream"
        self._queue: queue.Queue[AudioBlock] = queue.Queue(maxsize=_QUEUE_BLOCKS)
        self._last_chunk = 0.0
        self._heard_until = 0.0  # device time just after the last sample taken

    @property
    def state(self) -> str:
        if time.monotonic() - self._last_chunk <= _GONE_AFTER_S:
            return LISTENING
        return WAITING

    def push(self, start: float, samples: np.ndarray) -> float:
        """Take a chunk; returns the seconds of it that were new. Raises queue.Full when
        capture has fallen a minute behind (the device then keeps the chunk and retries)."""
        skip = max(0, round((self._heard_until - start) * SAMPLE_RATE))
        if skip >= len(samples):
            self._last_chunk = time.monotonic()
            return 0.0
        fresh = samples[skip:]
        block = AudioBlock(start=start + skip / SAMPLE_RATE, samples=fresh, source=self.name)
        self._queue.put_nowait(block)
        self._heard_until = block.start + len(fresh) / SAMPLE_RATE
        self._last_chunk = time.monotonic()
        self.reason = f"{self.name} stopped streaming"
        return len(fresh) / SAMPLE_RATE

    def read(self, timeout: float) -> AudioBlock | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
