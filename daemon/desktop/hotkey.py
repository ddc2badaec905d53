"""The global search hotkey, listened for with pynput (through RECORD on X11).

Hotkeys are written the way people write them, "ctrl+alt+space" or "super+shift+f", and checked
when the daemon starts. When one cannot be listened for, `problem` says why in a few words,
for the tray to show; the menu's Search… keeps working.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable

__all__ = ["DEFAULT_HOTKEY", "SearchHotkey", "pynput_combination"]

log = logging.getLogger(__name__)

DEFAULT_HOTKEY = "ctrl+alt+space"
_READY_TIMEOUT_S = 5.0


def pynput_combination(text: str) -> str:
    """ "ctrl+alt+space" in pynput's notation, "<ctrl>+<alt>+<space>"; ValueError if unreadable."""
    from pynput import keyboard

    parts = [p.strip().lower() for p in text.split("+")]
    if not text.strip() or any(not p for p in parts):
        raise ValueError(f"hotkey {text!r}: expected keys joined by +, such as ctrl+alt+space")
    aliases = {"control": "ctrl", "win": "cmd", "super": "cmd", "meta": "cmd", "option": "alt"}
    combination = "+".join(p if len(p) == 1 else f"<{aliases.get(p, p)}>" for p in parts)
    try:
        keyboard.HotKey.parse(combination)
    except ValueError:
        raise ValueError(
            f"hotkey {text!r}: a key in it is not known (expected names such as ctrl, alt, "
            "shift, super, space, f1, or single characters)"
        ) from None
    return combination


def _missing_x_extension() -> str | None:
    """On X11, pynput listens through the RECORD extension; say so if the server lacks it."""
    if not sys.platform.startswith("linux") or not os.environ.get("DISPLAY"):
        return None
    import Xlib.display
    import Xlib.error

    try:
        display = Xlib.display.Display()
    except (Xlib.error.DisplayError, OSError) as exc:
        return f"the display cannot be opened ({exc})"
    try:
        if not display.has_extension("RECORD"):
            return "the X server has no RECORD extension"
    finally:
        display.close()
    return None


class SearchHotkey:
    """Calls `on_press` (on the listener's thread) whenever the hotkey is pressed."""

    def __init__(self, hotkey: str, on_press: Callable[[], None]):
        self.hotkey = hotkey
        self.on_press = on_press
        self.problem: str | None = None
        self._listener = None

    def start(self) -> None:
        try:
            combination = pynput_combination(self.hotkey)
            from pynput import keyboard
        except (ValueError, ImportError) as exc:
            self._fail(str(exc))
            return
        missing = _missing_x_extension()
        if missing:
            self._fail(missing)
            return
        listener = keyboard.GlobalHotKeys({combination: self.on_press})
        listener.daemon = True
        listener.start()
        # pynput's wait() never returns if the listener dies before it is ready, so wait for
        # readiness on a helper thread with a timeout.
        waiter = threading.Thread(target=listener.wait, daemon=True)
        waiter.start()
        waiter.join(_READY_TIMEOUT_S)
        if waiter.is_alive():
            self._fail("the keyboard cannot be listened to here")
            return
        self._listener = listener
        log.info("search hotkey %s is ready", self.hotkey)

    def _fail(self, reason: str) -> None:
        self.problem = reason
        log.warning("search hotkey %s unavailable: %s", self.hotkey, reason)

    def stop(self) -> None:
        """Stop listening. On X11 pynput's thread (a daemon thread) ends at the next key event."""
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
