"""The search window (Tk): search as you type, move with the arrows, Enter for the conversation.

Queries run on a worker thread, newest query wins: a keystroke while a search is running only
replaces what runs next, so typing never waits for the index and the window never waits for
a slow query. All Tk calls happen on the thread that owns the Tk root.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import tkinter as tk
from collections.abc import Callable
from dataclasses import dataclass
from tkinter import ttk

from daemon.core.errors import EarmarkError

__all__ = ["SearchWindow", "ConversationWindow", "SearchBackend", "TITLE"]

log = logging.getLogger(__name__)

TITLE = "Earmark search"
CONVERSATION_TITLE = "Earmark conversation"
_DEBOUNCE_MS = 25
_POLL_MS = 8
_LIMIT = 50
_CONTEXT_S = 180  # the conversation: this much transcript either side of a hit


@dataclass
class SearchBackend:
    """Where the window gets its data (the running daemon, through the control endpoint)."""

    search: Callable[..., list[dict]]  # (query, all_profiles, newest_first, limit) -> hits
    conversation: Callable[[str, float, float], list[dict]]  # (profile, since, until) -> segments
    active_profile: Callable[[], str]
    play: Callable[[list[str]], None]  # audio files, in order


def _when(epoch: float) -> str:
    return time.strftime("%a %d %b %H:%M:%S", time.localtime(epoch))


def _insert_marked(text: tk.Text, snippet: str, tags: tuple[str, ...]) -> None:
    """Insert a snippet whose matches are marked **like this**, matches in bold."""
    for i, part in enumerate(snippet.split("**")):
        if part:
            text.insert("end", part, tags + (("match",) if i % 2 else ()))


class SearchWindow:
    def __init__(self, root: tk.Tk, backend: SearchBackend):
        self.root = root
        self.backend = backend
        self.hits: list[dict] = []
        self.selected = 0
        self.shown_query: str | None = None  # the query whose results are drawn
        self.draw_latencies_ms: list[float] = []  # keystroke to results drawn
        self._keystroke_at: float | None = None
        self._debounce: str | None = None
        self._requests: queue.Queue[tuple | None] = queue.Queue()
        self._results: queue.Queue[tuple] = queue.Queue()
        self._polling = False
        self._worker = threading.Thread(target=self._work, name="earmark-search", daemon=True)
        self._worker.start()
        self._build()

    # -- layout ---------------------------------------------------------------------------

    def _build(self) -> None:
        w = self.window = tk.Toplevel(self.root)
        w.title(TITLE)
        w.geometry("760x520")
        w.protocol("WM_DELETE_WINDOW", self.hide)
        w.withdraw()
        self.query = tk.StringVar()
        self.all_profiles = tk.BooleanVar(value=False)
        self.newest_first = tk.BooleanVar(value=True)
        self.entry = ttk.Entry(w, textvariable=self.query, font=("TkDefaultFont", 14))
        self.entry.pack(fill="x", padx=10, pady=(10, 4))
        options = ttk.Frame(w)
        options.pack(fill="x", padx=10)

        def choice(variable: tk.Variable, value: bool, text: str = "", gap: int = 6):
            button = ttk.Radiobutton(
                options, text=text, variable=variable, value=value, command=self._search_now
            )
            button.pack(side="left", padx=(0, gap))
            return button

        self.scope_active = choice(self.all_profiles, False)  # its text names the profile
        self.scope_all = choice(self.all_profiles, True, "All profiles", gap=20)
        self.order_newest = choice(self.newest_first, True, "Newest first")
        self.order_best = choice(self.newest_first, False, "Best match")
        self.results = tk.Text(w, wrap="word", cursor="arrow", padx=8, pady=6, height=20)
        self.results.pack(fill="both", expand=True, padx=10, pady=6)
        self.results.tag_configure("meta", foreground="#5f6368", font=("TkDefaultFont", 9))
        self.results.tag_configure("match", font=("TkDefaultFont", 10, "bold"))
        self.results.tag_configure("speaker", foreground="#1a73e8")
        self.results.tag_configure("selected", background="#d2e3fc")
        self.results.configure(state="disabled")
        self.status = ttk.Label(w, text="Type to search what you heard.")
        self.status.pack(fill="x", padx=10, pady=(0, 8))
        self.query.trace_add("write", lambda *_: self._typed())
        for widget in (w, self.entry):
            widget.bind("<Escape>", lambda _e: self.hide())
            widget.bind("<Down>", lambda _e: self.move(1))
            widget.bind("<Up>", lambda _e: self.move(-1))
            widget.bind("<Return>", lambda _e: self.open_selected())
        self.entry.bind("<Control-a>", lambda _e: self._select_all())
        self.results.bind("<Button-1>", self._clicked)
        self.results.bind("<Double-Button-1>", lambda _e: self.open_selected())

    # -- showing --------------------------------------------------------------------------

    def show(self) -> None:
        self.scope_active.configure(text=f"This profile ({self.backend.active_profile()})")
        self.window.deiconify()
        self.window.lift()
        self.window.attributes("-topmost", True)
        self.window.after(200, lambda: self.window.attributes("-topmost", False))
        self.window.focus_force()
        self.entry.focus_set()
        self.entry.select_range(0, "end")

    def _select_all(self) -> str:
        self.entry.select_range(0, "end")
        self.entry.icursor("end")
        return "break"

    def hide(self) -> None:
        self.window.withdraw()

    @property
    def visible(self) -> bool:
        return self.window.winfo_viewable() == 1

    # -- searching ------------------------------------------------------------------------

    def _typed(self) -> None:
        self._keystroke_at = time.perf_counter()
        if self._debounce is not None:
            self.window.after_cancel(self._debounce)
        self._debounce = self.window.after(_DEBOUNCE_MS, self._search_now)

    def _search_now(self) -> None:
        self._debounce = None
        text = self.query.get().strip()
        if not text:
            self._draw(text, [], None)
            return
        self._requests.put((text, self.all_profiles.get(), self.newest_first.get()))
        if not self._polling:
            self._polling = True
            self.window.after(_POLL_MS, self._poll)

    def _work(self) -> None:
        while True:
            request = self._requests.get()
            while not self._requests.empty():  # newest query wins
                request = self._requests.get()
            if request is None:
                return
            text, all_profiles, newest_first = request
            try:
                hits = self.backend.search(text, all_profiles, newest_first, _LIMIT)
                self._results.put((request, hits, None))
            except EarmarkError as exc:
                self._results.put((request, [], str(exc)))
            except Exception as exc:  # the window must survive a failed query
                log.exception("search failed")
                self._results.put((request, [], f"search failed: {exc}"))

    def _poll(self) -> None:
        latest = None
        while not self._results.empty():
            latest = self._results.get()
        current = (self.query.get().strip(), self.all_profiles.get(), self.newest_first.get())
        if latest is not None and latest[0] == current:
            self._draw(current[0], latest[1], latest[2])
            self._polling = False
            return
        self.window.after(_POLL_MS, self._poll)

    def _draw(self, query: str, hits: list[dict], error: str | None) -> None:
        self.hits, self.selected = hits, 0
        text = self.results
        text.configure(state="normal")
        text.delete("1.0", "end")
        for i, hit in enumerate(hits):
            tag = f"hit{i}"
            meta = f"{_when(hit['start'])}  ·  {hit['profile']}  ·  {hit['source']}\n"
            text.insert("end", meta, ("meta", tag))
            if hit.get("speaker"):
                text.insert("end", f"{hit['speaker']}: ", ("speaker", tag))
            _insert_marked(text, hit["snippet"].replace("\n", " "), (tag,))
            text.insert("end", "\n\n", (tag,))
        text.configure(state="disabled")
        self._highlight()
        if error:
            self.status.configure(text=error)
        elif not query:
            self.status.configure(text="Type to search what you heard.")
        elif not hits:
            self.status.configure(text=f"Nothing heard matches {query!r}.")
        else:
            many = "s" if len(hits) != 1 else ""
            self.status.configure(
                text=f"{len(hits)} result{many}: ↑↓ to move, Enter for the conversation, Esc closes"
            )
        self.shown_query = query
        if self._keystroke_at is not None and query:
            text.update_idletasks()
            self.draw_latencies_ms.append((time.perf_counter() - self._keystroke_at) * 1000)
            self._keystroke_at = None

    # -- moving and opening ------------------------------------------------------------------

    def move(self, step: int) -> str:
        if self.hits:
            self.selected = max(0, min(len(self.hits) - 1, self.selected + step))
            self._highlight()
        return "break"

    def _highlight(self) -> None:
        self.results.tag_remove("selected", "1.0", "end")
        if self.hits:
            ranges = self.results.tag_ranges(f"hit{self.selected}")
            if ranges:
                self.results.tag_add("selected", ranges[0], ranges[-1])
                self.results.see(ranges[-1])
                self.results.see(ranges[0])

    def _clicked(self, event) -> None:
        for tag in self.results.tag_names(f"@{event.x},{event.y}"):
            if tag.startswith("hit"):
                self.selected = int(tag[3:])
                self._highlight()

    def open_selected(self) -> str:
        if self.hits:
            ConversationWindow(
                self.root, self.backend, self.hits[self.selected], on_close=self._refocus
            )
        return "break"

    def _refocus(self) -> None:
        if self.visible:
            self.window.focus_force()
            self.entry.focus_set()

    def close(self) -> None:
        self._requests.put(None)
        self.window.destroy()


class ConversationWindow:
    """The transcript a few minutes either side of a hit; copy it, or play what was kept."""

    def __init__(
        self,
        root: tk.Tk,
        backend: SearchBackend,
        hit: dict,
        *,
        on_close: Callable[[], None] = lambda: None,
    ):
        self.backend = backend
        self.hit = hit
        self.on_close = on_close
        self.segments = backend.conversation(
            hit["profile"], hit["start"] - _CONTEXT_S, hit["end"] + _CONTEXT_S
        )
        w = self.window = tk.Toplevel(root)
        w.title(f"{CONVERSATION_TITLE}: {hit['profile']}, {_when(hit['start'])}")
        w.geometry("700x480")
        text = self.text = tk.Text(w, wrap="word", padx=8, pady=6)
        text.tag_configure("time", foreground="#5f6368")
        text.tag_configure("hit", background="#fef7e0")
        text.tag_configure("speaker", font=("TkDefaultFont", 10, "bold"))
        for segment in self.segments:
            tags = ("hit",) if segment["id"] == hit["segment_id"] else ()
            when = time.strftime("%H:%M:%S  ", time.localtime(segment["start"]))
            text.insert("end", when, tags + ("time",))
            if segment.get("speaker"):
                text.insert("end", f"{segment['speaker']}: ", tags + ("speaker",))
            text.insert("end", segment["text"] + "\n", tags)
        text.configure(state="disabled")
        buttons = ttk.Frame(w)
        buttons.pack(side="bottom", fill="x", padx=8, pady=8)
        text.pack(fill="both", expand=True, padx=8, pady=(8, 0))
        ttk.Button(buttons, text="Copy", command=self.copy).pack(side="left")
        self.audio = list(dict.fromkeys(s["audio_path"] for s in self.segments if s["audio_path"]))
        play = ttk.Button(buttons, text="Play audio", command=self.play)
        play.pack(side="left", padx=6)
        if not self.audio:
            play.state(["disabled"])
        ttk.Button(buttons, text="Close", command=self.close).pack(side="right")
        ranges = text.tag_ranges("hit")
        if ranges:
            text.see(ranges[0])
        w.bind("<Escape>", lambda _e: self.close())
        w.protocol("WM_DELETE_WINDOW", self.close)
        w.focus_force()

    def close(self) -> None:
        self.window.destroy()
        self.on_close()

    def transcript(self) -> str:
        return "\n".join(
            f"{time.strftime('%H:%M:%S', time.localtime(s['start']))}  "
            + (f"{s['speaker']}: " if s.get("speaker") else "")
            + s["text"]
            for s in self.segments
        )

    def copy(self) -> None:
        self.window.clipboard_clear()
        self.window.clipboard_append(self.transcript())

    def play(self) -> None:
        threading.Thread(target=self.backend.play, args=(self.audio,), daemon=True).start()
