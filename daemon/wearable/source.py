"""Wearable: live audio a paired network device streams to the daemon (docs/wearable-protocol.md).

The listener pushes each verified chunk in; capture reads it out like any other source. Chunks
carry the device's wall-clock time of their first sample. A chunk whose start was already taken
(a retry after a lost answer) is a repeat and dropped. Any other chunk is new audio, kept whole:
a device stamps its chunks from its audio callbacks, which run late by a tenth of a second or
more on a busy device, so consecutive chunks may seem to overlap; cutting that "overlap" would
cut speech. When no chunk has come for 5 s the device counts as gone ("stopped streaming") until
the next one arrives.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque

import numpy as np

from daemon.capture.sources.base import LISTENING, WAITING, AudioBlock, Source
from daemon.storage.spool import SAMPLE_RATE

__all__ = ["Wearable"]

_GONE_AFTER_S = 5.0
_QUEUE_BLOCKS = 600  # a minute of one-second chunks that capture has not read yet
_REMEMBERED_STARTS = 600  # a repeat is a retry of a recent chunk: ten minutes of them is plenty


class Wearable(Source):
    def __init__(self, name: str):
        self.name = name
        self.reason = "waiting for the device's stream"
        self._queue: queue.Queue[AudioBlock] = queue.Queue(maxsize=_QUEUE_BLOCKS)
        self._last_chunk = 0.0
        self._heard_until = 0.0  # device time just after the last sample taken
        self._starts: deque[int] = deque(maxlen=_REMEMBERED_STARTS)  # in ms, as sent
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        if time.monotonic() - self._last_chunk <= _GONE_AFTER_S:
            return LISTENING
        return WAITING

    def push(self, start: float, samples: np.ndarray) -> float:
        """Take a chunk; returns the seconds of it that were new (0 for a repeat). Raises
        queue.Full when capture has fallen a minute behind (the device then keeps the chunk and
        retries)."""
        key = round(start * 1000)
        with self._lock:  # a retry may arrive on another connection while the first is here
            if key in self._starts:
                self._last_chunk = time.monotonic()
                return 0.0
            # placed no earlier than the end of the chunk before: the timeline never runs back
            start = max(start, self._heard_until)
            block = AudioBlock(start=start, samples=samples, source=self.name)
            self._queue.put_nowait(block)
            self._starts.append(key)
            self._heard_until = block.start + len(samples) / SAMPLE_RATE
            self._last_chunk = time.monotonic()
        self.reason = f"{self.name} stopped streaming"
        return len(samples) / SAMPLE_RATE

    def read(self, timeout: float) -> AudioBlock | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
