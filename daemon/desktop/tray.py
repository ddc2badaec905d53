"""The tray icon: the state at a glance, and a menu for everything a day of listening needs.

The icon is drawn with Pillow, one picture per look (recording, paused, off, waiting for a
device, catching up, error). Clicking it toggles recording (the menu's default item) where the
platform allows; the full menu is on the right button. Every action is one of `TrayActions`,
which the desktop sends to the daemon's control endpoint: the tray never touches capture.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageDraw

__all__ = ["Look", "Tray", "TrayActions", "look_of", "draw_icon", "tooltip_of", "tk_menu"]

log = logging.getLogger(__name__)

ICON_SIZE = 64


@dataclass(frozen=True)
class Look:
    """How the icon appears: a name for tests and logs, a colour and a glyph."""

    name: str
    colour: str
    glyph: str


RECORDING = Look("recording", "#d93025", "dot")
PAUSED = Look("paused", "#e37400", "bars")
OFF = Look("off", "#80868b", "ring")
WAITING = Look("waiting", "#5f6368", "dots")
CATCHING_UP = Look("catching up", "#1a73e8", "arrows")
ERROR = Look("error", "#202124", "bang")

_CATCHING_UP_AT = 3  # utterances waiting before the icon says so


def look_of(status: dict) -> Look:
    state = status.get("state", "")
    trouble = state in ("error", "disk full") or state.startswith("spool unwritable")
    if trouble or status.get("error") or status.get("problem"):
        return ERROR
    if state == "recording off":
        return OFF
    if state.startswith("paused"):
        return PAUSED
    if state.startswith("waiting"):
        return WAITING
    if status.get("backlog", 0) >= _CATCHING_UP_AT or status.get("model_state") == "loading":
        return CATCHING_UP
    return RECORDING


def tooltip_of(status: dict, *, hotkey_problem: str | None = None) -> str:
    state = status.get("state", "")
    if status.get("error") or status.get("problem"):
        words = status.get("error") or status["problem"]
    elif look_of(status) is CATCHING_UP and status.get("backlog"):
        words = f"{state}, catching up on {status['backlog']} utterances"
    elif state.startswith("waiting") and status.get("source_reason"):
        words = f"{state} ({status['source_reason']})"
    else:
        words = state
    text = f"Earmark: {status.get('profile', '?')}, {words}"
    if status.get("writing"):
        text += f"; writing the summary of {status['writing']}..."
    if hotkey_problem:
        text += f"; search hotkey unavailable ({hotkey_problem})"
    return text


def _latin1(text: str) -> str:
    text = text.replace("…", "...").replace("–", "-").replace("—", "-")
    return text.encode("latin-1", "replace").decode("latin-1")


def draw_icon(look: Look, size: int = ICON_SIZE) -> Image.Image:
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(image)
    s = size / 64
    d.ellipse((2 * s, 2 * s, 62 * s, 62 * s), fill=look.colour)
    white = "#ffffff"
    if look.glyph == "dot":
        d.ellipse((20 * s, 20 * s, 44 * s, 44 * s), fill=white)
    elif look.glyph == "bars":
        d.rectangle((21 * s, 18 * s, 29 * s, 46 * s), fill=white)
        d.rectangle((35 * s, 18 * s, 43 * s, 46 * s), fill=white)
    elif look.glyph == "ring":
        d.ellipse((18 * s, 18 * s, 46 * s, 46 * s), outline=white, width=max(1, round(5 * s)))
    elif look.glyph == "dots":
        for x in (17, 32, 47):
            d.ellipse(((x - 5) * s, 27 * s, (x + 5) * s, 37 * s), fill=white)
    elif look.glyph == "arrows":
        for x in (16, 32):
            d.polygon([(x * s, 18 * s), ((x + 16) * s, 32 * s), (x * s, 46 * s)], fill=white)
    elif look.glyph == "bang":
        d.rectangle((28 * s, 14 * s, 36 * s, 38 * s), fill="#f28b82")
        d.rectangle((28 * s, 43 * s, 36 * s, 51 * s), fill="#f28b82")
    return image


@dataclass
class TrayActions:
    """What the menu does; each callable runs on the tray's thread and must not block long."""

    toggle: Callable[[], None]
    use_profile: Callable[[str], None]
    pause: Callable[[float | None], None]
    forget: Callable[[float, str], None]  # seconds, and the words for the confirmation
    search: Callable[[], None]
    export: Callable[[str], None]  # "today" or "this week"
    open_data_folder: Callable[[], None]
    quit: Callable[[], None]
    context_menu: Callable[[int, int], None]  # where the backend has no menu: show ours at x, y


def _clickable_xorg_icon(pystray, context_menu: Callable[[int, int], None]):
    """pystray's icon class; on bare X11, one that answers clicks and docks once.

    pystray's X backend has no menu, and its window does not even ask for button presses
    (pystray issue #151). This subclass does: the left button runs the default item (the
    Recording toggle), the right button asks for the menu at the pointer, which the desktop
    draws with Tk from this same pystray menu. The backend also asks the tray host to dock
    the icon again on every redraw; tray hosts such as trayer then give it a new slot, often
    1 pixel wide, so here it docks only when it is not docked.
    """
    if not pystray.Icon.__module__.endswith("._xorg"):
        return pystray.Icon
    import Xlib.X

    class ClickableXorgIcon(pystray.Icon):
        def _run(self):
            # pystray names its loop thread only after telling setup it is ready, and setup
            # (which shows the icon) needs that name: a race that loses the icon now and then
            self._thread = threading.current_thread()
            super()._run()

        def _assert_docked(self):
            if not self._systray_manager:
                super()._assert_docked()

        def _create_window(self):
            window = super()._create_window()
            window.change_attributes(
                event_mask=Xlib.X.ExposureMask | Xlib.X.StructureNotifyMask | Xlib.X.ButtonPressMask
            )
            return window

        def _on_button_press(self, event):
            if event.detail == 1:
                self()
            elif event.detail == 3:
                context_menu(event.root_x, event.root_y)

    return ClickableXorgIcon


def tk_menu(parent, menu, icon):
    """A Tk popup menu mirroring a pystray menu; choosing an entry runs the pystray item."""
    import tkinter as tk

    popup = tk.Menu(parent, tearoff=False)
    for item in menu:  # the visible items, separators tidied, as pystray shows them
        if item is type(menu).SEPARATOR:
            popup.add_separator()
        elif item.submenu:
            popup.add_cascade(label=item.text, menu=tk_menu(popup, item.submenu, icon))
        elif item.checked is not None:
            value = tk.BooleanVar(popup, value=item.checked)
            popup._earmark_vars = getattr(popup, "_earmark_vars", []) + [value]  # keep alive
            add = popup.add_radiobutton if item.radio else popup.add_checkbutton
            options = {"value": True} if item.radio else {"onvalue": True, "offvalue": False}
            add(label=item.text, variable=value, command=lambda i=item: i(icon), **options)
        else:
            popup.add_command(
                label=item.text,
                command=lambda i=item: i(icon),
                state="normal" if item.enabled else "disabled",
            )
    return popup


class Tray:
    """A pystray icon kept in step with the daemon's status."""

    def __init__(self, actions: TrayActions, profiles: Callable[[], list[str]]):
        import pystray  # needs a display: imported only when a tray is wanted

        self._pystray = pystray
        self.actions = actions
        self.profiles = profiles
        self.status: dict = {"state": "starting", "profile": "?"}
        self.hotkey_problem: str | None = None
        self.look = WAITING
        icon_class = _clickable_xorg_icon(pystray, actions.context_menu)
        self.icon = icon_class(
            "earmark", draw_icon(self.look), "Earmark: starting", menu=self._menu()
        )

    def start(self, timeout: float = 10.0) -> None:
        """Show the icon, its loop on a thread of its own; returns once the loop runs (until
        then pystray cannot take a new title or picture from another thread)."""
        running = threading.Event()

        def setup(icon) -> None:
            icon.visible = True
            running.set()

        threading.Thread(
            target=self.icon.run, kwargs={"setup": setup}, name="earmark-tray", daemon=True
        ).start()
        if not running.wait(timeout):
            log.warning("the tray icon did not start within %.0f s", timeout)

    def stop(self) -> None:
        self.icon.stop()

    def show(self, status: dict, *, hotkey_problem: str | None = None) -> None:
        """Redraw the icon, tooltip and menu if what they show has changed."""
        look = look_of(status)
        # X11's window title is Latin-1 (pystray sets WM_NAME): a character outside it (an
        # error naming a file, say) would raise in whichever thread redraws the tray
        title = _latin1(tooltip_of(status, hotkey_problem=hotkey_problem))
        changed = (
            status.get("profile") != self.status.get("profile")
            or status.get("recording") != self.status.get("recording")
            or hotkey_problem != self.hotkey_problem
        )
        self.status, self.hotkey_problem = status, hotkey_problem
        if look != self.look or title != self.icon.title:
            # Title first: pystray's X backend sends a new title only with the next flush,
            # which redrawing the icon does.
            self.look = look
            self.icon.title = title
            self.icon.icon = draw_icon(look)
        if changed:
            self.icon.update_menu()

    # -- the menu ---------------------------------------------------------------------------

    def _menu(self):
        item, menu = self._pystray.MenuItem, self._pystray.Menu

        def profile_item(name: str):
            return item(
                name,
                lambda: self.actions.use_profile(name),
                checked=lambda _: self.status.get("profile") == name,
                radio=True,
            )

        def hotkey_note():
            return f"Search hotkey unavailable: {self.hotkey_problem}"

        return menu(
            item(
                "Recording",
                lambda: self.actions.toggle(),
                checked=lambda _: bool(self.status.get("recording")),
                default=True,
            ),
            item("Profile", menu(lambda: [profile_item(n) for n in self.profiles()])),
            item(
                "Pause",
                menu(
                    item("15 minutes", lambda: self.actions.pause(15 * 60)),
                    item("1 hour", lambda: self.actions.pause(60 * 60)),
                    item("Until I resume", lambda: self.actions.pause(None)),
                ),
            ),
            item(
                "Forget",
                menu(
                    item("Last 5 minutes", lambda: self.actions.forget(5 * 60, "5 minutes")),
                    item("Last hour", lambda: self.actions.forget(60 * 60, "hour")),
                ),
            ),
            menu.SEPARATOR,
            item("Search…", lambda: self.actions.search()),
            item(
                "Export summary",
                menu(
                    item("Today", lambda: self.actions.export("today")),
                    item("This week", lambda: self.actions.export("this week")),
                ),
            ),
            item("Open data folder", lambda: self.actions.open_data_folder()),
            item(
                lambda _: hotkey_note(),
                None,
                enabled=False,
                visible=lambda _: self.hotkey_problem is not None,
            ),
            menu.SEPARATOR,
            item("Quit", lambda: self.actions.quit()),
        )
