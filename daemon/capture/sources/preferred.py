"""PreferredInput: the first present of a profile's inputs, followed as devices come and go.

A profile lists its inputs in order of preference, say `[Jabra, microphone]`: a wearable first,
the laptop microphone after it. Capture is on the first one that is there. When it is lost
(unplugged, out of range, or delivering only zeros), capture moves to the next one present
within a second or two; when a preferred one appears again, capture moves back. Blocks already
read from the device left behind are still delivered, so a switch loses nothing that was heard.

A device lost while it is still present (delivering only zeros, or nothing at all) is passed
over until it goes away and comes back (a Bluetooth headset in that state needs reconnecting),
so capture does not flap back to it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from daemon.capture.sources.base import WAITING, AudioBlock, Source
from daemon.capture.sources.microphone import Microphone, input_device_present

__all__ = ["PreferredInput"]

log = logging.getLogger(__name__)

_CHECK_S = 0.25
_PRESENCE_EVERY_S = 1.0


class PreferredInput(Source):
    """Inputs in order of preference; None is the default microphone."""

    def __init__(
        self,
        devices: Sequence[str | None],
        *,
        present: Callable[[str], bool] = input_device_present,
    ):
        if not devices:
            raise ValueError("PreferredInput needs at least one input")
        self.devices = list(devices)
        self._present = present
        self.active: Microphone | None = None
        self._active_index: int | None = None
        self._left_behind: list[Microphone] = []
        self._passed_over: set[int] = set()  # gave only zeros; retried once they come back
        self.switches: deque[dict] = deque(maxlen=20)
        self.switch_note: str | None = None  # why capture is on the active input, after a switch
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what capture sees: the active device -----------------------------------------------

    @property
    def name(self) -> str:
        return self.active.name if self.active else self._label(0)

    @property
    def state(self) -> str:
        return self.active.state if self.active else WAITING

    @property
    def reason(self) -> str | None:
        return self.active.reason if self.active else "starting"

    @property
    def overruns(self) -> int:
        return self.active.overruns if self.active else 0

    def start(self) -> None:
        self._stop.clear()
        best = self._best()
        self._switch(0 if best is None else best, None)
        self._thread = threading.Thread(target=self._supervise, name="earmark-inputs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            if self.active is not None:
                self.active.stop()  # kept for its name and state until the next start

    def read(self, timeout: float) -> AudioBlock | None:
        with self._lock:
            behind, active = list(self._left_behind), self.active
        for old in behind:  # what the previous device heard comes first
            block = old.read(0)
            if block is not None:
                return block
            with self._lock:
                self._left_behind.remove(old)
        if active is None:
            self._stop.wait(timeout)
            return None
        return active.read(timeout)

    def inputs(self) -> list[dict]:
        """Each input in order of preference, and which one capture is on."""
        return [
            {
                "input": self._label(i),
                "active": i == self._active_index,
                "passed_over": i in self._passed_over,
            }
            for i in range(len(self.devices))
        ]

    # -- choosing -------------------------------------------------------------------------

    def _label(self, index: int) -> str:
        device = self.devices[index]
        return "microphone" if device is None else device

    def _is_present(self, index: int) -> bool:
        device = self.devices[index]
        return device is None or self._present(device)

    def _best(self, excluding: int | None = None) -> int | None:
        """The most preferred input that is there and not passed over, or None."""
        for i in range(len(self.devices)):
            if i != excluding and i not in self._passed_over and self._is_present(i):
                return i
        return None

    def _switch(self, index: int, reason: str | None) -> None:
        """Capture from another input; `reason` None is a fresh start, not a switch."""
        with self._lock:
            old = self.active
            if old is not None:
                old.stop()
                self._left_behind.append(old)
            self.active, self._active_index = Microphone(self.devices[index]), index
            self.active.start()
        self.switch_note = None
        if old is not None and reason is not None:
            self.switch_note = f"switched from {old.name}: {reason}"
            log.info("capture moves from %s to %s: %s", old.name, self._label(index), reason)
            self.switches.append(
                {"at": time.time(), "from": old.name, "to": self._label(index), "reason": reason}
            )

    def _supervise(self) -> None:
        next_presence = 0.0
        while not self._stop.wait(_CHECK_S):
            try:
                next_presence = self._follow(next_presence)
            except Exception:  # a failed device query must not stop capture following devices
                log.exception("checking the inputs failed; checking again")

    def _follow(self, next_presence: float) -> float:
        """One look at the inputs: leave a lost one, go back to a preferred one that appeared."""
        active, index = self.active, self._active_index
        if active is None or index is None:
            return next_presence
        lost = active.state == WAITING and active.reason not in (None, "starting")
        if lost and len(self.devices) > 1:
            fallback = self._best(excluding=index)
            if fallback is not None:
                if self._is_present(index):  # there but broken: passed over until replugged
                    self._passed_over.add(index)
                self._switch(fallback, active.reason or "lost")
                return next_presence
        if time.monotonic() < next_presence:
            return next_presence
        for i in list(self._passed_over):
            if i != index and not self._is_present(i):
                self._passed_over.discard(i)  # gone; it may come back healthy
        for better in range(index):
            if better not in self._passed_over and self._is_present(better):
                self._switch(better, f"{self._label(better)} appeared")
                break
        return time.monotonic() + _PRESENCE_EVERY_S
