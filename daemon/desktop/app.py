"""The desktop side of Earmark: tray icon, search hotkey and search window.

Each runs on its own thread (Tk's, pystray's, pynput's, and a status poller) and reaches the
daemon only through its control endpoint, like the CLI, so nothing here can hold up capture.
The daemon starts a Desktop when `earmark run` has a display; tests start one against a
daemon process to drive the real menu and window.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import queue
import shutil
import subprocess
import sys
import threading
import wave
from collections.abc import Callable
from pathlib import Path

import yaml

from daemon.capture import portaudio
from daemon.core import control
from daemon.core.errors import EarmarkError
from daemon.core.paths import Paths
from daemon.desktop.hotkey import DEFAULT_HOTKEY, SearchHotkey

__all__ = ["Desktop", "display_problem", "hotkey_setting"]

log = logging.getLogger(__name__)

_STATUS_EVERY_S = 1.0
_PUMP_MS = 50


def display_problem() -> str | None:
    """Why no tray can be shown here, in a few words; None when one can."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return "no display found, so no tray icon"
    try:
        import tkinter  # noqa: F401
    except ImportError:
        return "Tk is not installed (the python3-tk package), so no tray icon"
    return None


def hotkey_setting(paths: Paths) -> str:
    """The search hotkey from `desktop.yaml` in the config folder (ctrl+alt+space if unset)."""
    path = paths.config_dir / "desktop.yaml"
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        return DEFAULT_HOTKEY
    except (OSError, yaml.YAMLError) as exc:
        raise EarmarkError(f"{path}: cannot be read ({exc})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("search_hotkey", ""), str):
        raise EarmarkError(f"{path}: search_hotkey: expected keys such as ctrl+alt+space")
    return raw.get("search_hotkey") or DEFAULT_HOTKEY


def _open(path: Path) -> None:
    """Open a folder or file the way the desktop would (file manager, Markdown viewer)."""
    if sys.platform == "win32":
        os.startfile(path)  # type: ignore[attr-defined]  # noqa: S606
        return
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    if shutil.which(opener) is None:
        raise EarmarkError(f"cannot open {path}: {opener} is not installed")
    subprocess.Popen([opener, str(path)], start_new_session=True)


def _play(paths: list[str]) -> None:
    import numpy as np

    for path in paths:
        with wave.open(path, "rb") as f:
            samples = np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16)
            rate = f.getframerate()
        portaudio.play(samples, rate)


class Desktop:
    def __init__(self, paths: Paths):
        self.paths = paths
        self.tray = None
        self.search_window = None
        self.hotkey: SearchHotkey | None = None
        self.status: dict = {}
        self.problem: str | None = None  # the last menu action that failed, for the tooltip
        self.unreachable: str | None = None  # why the daemon did not answer the last poll
        self.writing: str | None = None  # the period whose summary is being written
        self._root = None
        self._menu_popup = None
        self._calls: queue.Queue[tuple[Callable, concurrent.futures.Future]] = queue.Queue()
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._failed: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._poller: threading.Thread | None = None

    # -- talking to the daemon --------------------------------------------------------------

    def ask(self, command: str, **args):
        return control.request(self.paths.control_socket, command, **args)

    def _act(self, command: str, **args) -> None:
        """Run a menu action against the daemon and show the outcome at once."""
        try:
            result = self.ask(command, **args)
            if isinstance(result, dict) and "state" in result:
                self.status = result
            self.problem = None
        except EarmarkError as exc:
            log.warning("%s failed: %s", command, exc)
            self.problem = str(exc)
        self._show_status()

    def _show_status(self) -> None:
        if self.tray is None:
            return
        status = self.status or {"state": "not running", "profile": "?"}
        if self.unreachable or self.problem:
            status = {**status, "error": self.unreachable or self.problem}
        if self.writing:
            status = {**status, "writing": self.writing}
        hotkey = self.hotkey.problem if self.hotkey is not None else None
        self.tray.show(status, hotkey_problem=hotkey)

    def _poll_status(self) -> None:
        while not self._stopping.wait(_STATUS_EVERY_S):
            try:
                self.status = self.ask("status", timeout=5)
                self.unreachable = None
            except EarmarkError as exc:
                self.unreachable = str(exc)
            try:
                self._show_status()
            except Exception:  # one failed redraw must not stop the tray following the daemon
                log.exception("the tray could not show the status")

    # -- running ------------------------------------------------------------------------------

    def start(self, *, timeout: float = 30.0) -> None:
        try:
            self.status = self.ask("status", timeout=5)
        except EarmarkError as exc:
            self.unreachable = str(exc)
        self._thread = threading.Thread(target=self._run, name="earmark-desktop", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise EarmarkError("the desktop (tray and search window) did not start")
        if self._failed is not None:
            raise EarmarkError(f"the tray could not start: {self._failed}") from None
        self._poller = threading.Thread(
            target=self._poll_status, name="earmark-status", daemon=True
        )
        self._poller.start()
        threading.Thread(target=self._start_hotkey, name="earmark-hotkey", daemon=True).start()

    def _run(self) -> None:
        import tkinter as tk

        from daemon.desktop.search_window import SearchBackend, SearchWindow
        from daemon.desktop.tray import Tray, TrayActions

        try:
            self._root = tk.Tk(className="Earmark")
            self._root.withdraw()
            self.search_window = SearchWindow(
                self._root,
                SearchBackend(
                    search=self._search,
                    conversation=lambda profile, since, until: self.ask(
                        "conversation", profile=profile, since=since, until=until
                    ),
                    active_profile=lambda: self.status.get("profile", "?"),
                    play=_play,
                ),
            )
            self.tray = Tray(
                TrayActions(
                    toggle=lambda: self._act("toggle"),
                    use_profile=lambda name: self._act("use_profile", name=name),
                    pause=lambda seconds: self._act("pause", seconds=seconds),
                    forget=lambda seconds, words: self.post(
                        lambda: self._confirm_forget(seconds, words)
                    ),
                    search=lambda: self.post(self.show_search),
                    export=lambda period: threading.Thread(
                        target=self._export, args=(period,), daemon=True
                    ).start(),
                    open_data_folder=lambda: self._open_path(self.paths.data_dir),
                    quit=lambda: self._act("stop"),
                    context_menu=lambda x, y: self.post(lambda: self._popup_menu(x, y)),
                ),
                profiles=lambda: self.status.get("profiles") or [self.status.get("profile", "?")],
            )
            self.tray.start()
        except Exception as exc:  # no X connection, no tray host library, ...
            log.exception("the desktop could not start")
            self._failed = exc
            self._ready.set()
            return
        self._root.after(_PUMP_MS, self._pump)
        self._ready.set()
        try:
            self._root.mainloop()
        finally:
            self.tray.stop()
            self._root.destroy()

    def _start_hotkey(self) -> None:
        try:
            setting = hotkey_setting(self.paths)
        except EarmarkError as exc:
            self.hotkey = SearchHotkey(DEFAULT_HOTKEY, lambda: None)
            self.hotkey.problem = str(exc)
            self._show_status()
            return
        hotkey = SearchHotkey(setting, lambda: self.post(self.show_search))
        hotkey.start()
        self.hotkey = hotkey
        self._show_status()

    def stop(self) -> None:
        self._stopping.set()
        if self.hotkey is not None:
            self.hotkey.stop()
        if self._thread is not None and self._thread.is_alive() and self._root is not None:
            self.post(self._root.quit)
            self._thread.join(timeout=10)

    # -- the Tk thread ----------------------------------------------------------------------

    def post(self, fn: Callable[[], object]) -> concurrent.futures.Future:
        """Run `fn` on the Tk thread; the future holds its result."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._calls.put((fn, future))
        return future

    def call(self, fn: Callable[[], object], timeout: float = 10.0):
        """Run `fn` on the Tk thread and wait for its result."""
        return self.post(fn).result(timeout)

    def _pump(self) -> None:
        while not self._calls.empty():
            fn, future = self._calls.get()
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to whoever waits on the future
                log.exception("desktop action failed")
                future.set_exception(exc)
        self._root.after(_PUMP_MS, self._pump)

    def _popup_menu(self, x: int, y: int) -> None:
        from daemon.desktop.tray import tk_menu

        if self._menu_popup is not None:
            self._menu_popup.destroy()
        self._menu_popup = tk_menu(self._root, self.tray.icon.menu, self.tray.icon)
        self._menu_popup.tk_popup(x, y)

    def show_search(self) -> None:
        self.search_window.show()

    def _search(self, query: str, all_profiles: bool, newest_first: bool, limit: int):
        if not all_profiles and not self.status.get("profile"):
            self.status = self.ask("status")
        profiles = None if all_profiles else [self.status["profile"]]
        return self.ask(
            "search", query=query, profiles=profiles, newest_first=newest_first, limit=limit
        )

    def _confirm_forget(self, seconds: float, words: str) -> None:
        from tkinter import messagebox

        if messagebox.askyesno(
            "Earmark: forget",
            f"Forget everything heard in the last {words}?\n\n"
            "Its audio, transcripts and search entries are deleted in every profile. "
            "This cannot be undone.",
            default=messagebox.NO,
            parent=self._root,
        ):
            threading.Thread(
                target=self._act, args=("forget",), kwargs={"seconds": seconds}, daemon=True
            ).start()

    def _export(self, period: str) -> None:
        """Write the summary (on this worker thread; the tooltip says so meanwhile), then say
        it is written and offer to open it (on Tk's)."""
        if self.writing:
            return  # one at a time: the tooltip already says which
        self.writing = period
        self._show_status()
        try:
            result = self.ask("export", period=period, timeout=300)
        except EarmarkError as exc:
            self.problem = str(exc)
            return
        finally:
            self.writing = None
            self._show_status()
        self.post(lambda: self._offer_export(result))

    def _offer_export(self, result: dict) -> None:
        from tkinter import messagebox

        if messagebox.askyesno(
            "Earmark: export summary",
            f"The {result['profile']} summary of {result['period']} is in\n{result['path']}"
            "\n\nOpen it now?",
            parent=self._root,
        ):
            self._open_path(Path(result["path"]))

    def _open_path(self, path: Path) -> None:
        try:
            _open(path)
        except (OSError, EarmarkError) as exc:
            self.problem = str(exc)
            self._show_status()
