"""Summary exports from stored transcripts: sections, files, formats, isolation, re-runs."""

import json
import os
from datetime import datetime

import yaml
from realparts import earmark
from transcripts import add_said

from daemon.storage.search import SearchIndex
from daemon.storage.store import Store

DAY = datetime(2026, 11, 25)


def at(hour: int, minute: int) -> float:
    return DAY.replace(hour=hour, minute=minute).timestamp()


def store_said(home, profile: str, lines: list[tuple[float, str]]) -> None:
    (home / "data").mkdir(parents=True, exist_ok=True)
    store = Store(home / "data" / "earmark.db")
    for i, (start, text) in enumerate(lines):
        add_said(store, f"{profile}-{i}-{start}", profile, start, text, seconds=4)
    SearchIndex(home / "data" / "index", profile).sync(store)


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


MEETING = [
    (at(10, 0), "Thanks everyone for coming. We decided to postpone the launch until March."),
    (at(10, 2), "Alice will send the slides by Friday."),
    (at(10, 3), "Who is responsible for the backups?"),
    (at(10, 4), "Bob needs to call the supplier on Monday."),
    (at(14, 30), "Quick one: let's go with the blue design."),
    (at(14, 31), "Carol, can you update the mockups?"),
]


def test_meetings_export_one_note_per_conversation(earmark_home):
    store_said(earmark_home, "meetings", MEETING)
    store_said(earmark_home, "lectures", [(at(10, 1), "Alice will send the lecture notes.")])
    result = earmark(
        "export", "--profile", "meetings", "--since", "2026-11-25", "--until", "2026-11-25"
    )
    assert result.returncode == 0, result.stderr
    path = earmark_home / "data" / "exports" / "meetings" / "2026-11-25.md"
    assert result.stdout.strip() == f"meetings: {path}"
    text = path.read_text()
    meta = front_matter(text)
    assert meta["profile"] == "meetings" and meta["tags"] == ["earmark", "meetings"]
    assert meta["period_start"].startswith("2026-11-25T00:00:00")
    assert "## Conversation 10:00–10:04" in text and "## Conversation 14:30–14:31" in text
    assert (
        "- [ ] Alice will send the slides by Friday (owner: Alice, due: 2026-11-27) · 10:02" in text
    )
    assert (
        "- [ ] Bob needs to call the supplier on Monday (owner: Bob, due: 2026-11-30) · 10:04"
        in text
    )
    assert "- [ ] Carol, can you update the mockups? (owner: Carol) · 14:31" in text
    assert "# Meetings: 2026-11-25\n" in text
    assert "- 10:00 We decided to postpone the launch until March\n" in text
    assert "- 10:03 Who is responsible for the backups?\n" in text
    assert "- 14:30 Quick one: let's go with the blue design\n" in text
    assert "lecture notes" not in text  # another profile's words never appear
    roll_up = text.split("## All conversations")[1].split("## Conversation")[0]
    assert "Alice will send the slides" in roll_up and "Carol, can you update" in roll_up
    assert "blue design" in roll_up and text.index("## All conversations") < text.index("## Conv")
    first, second = text.index("## Conversation 10:00"), text.index("## Conversation 14:30")
    assert text.index("Carol", first) > second > text.index("Alice will send", first)

    again = earmark(
        "export", "--profile", "meetings", "--since", "2026-11-25", "--until", "2026-11-25"
    )
    assert again.returncode == 0
    assert sorted(p.name for p in path.parent.iterdir()) == ["2026-11-25.md"]  # rewritten
    assert path.stat().st_mode & 0o777 == 0o600


def test_json_export_carries_times_and_fields(earmark_home, tmp_path):
    store_said(earmark_home, "meetings", MEETING)
    out = tmp_path / "meeting.json"
    result = earmark(
        "export", "--profile", "meetings", "--since", "2026-11-25", "--until", "2026-11-25",
        "--format", "json", "-o", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(out.read_text())
    first = summary["conversations"][0]["sections"]
    actions = next(s for s in first if s["name"] == "action_items")["items"]
    assert actions[0]["owner"] == "Alice" and actions[0]["due"] == "2026-11-27"
    assert actions[0]["at"].startswith("2026-11-25T10:02:00")
    decisions = next(s for s in first if s["name"] == "decisions")["items"]
    assert [d["text"] for d in decisions] == ["We decided to postpone the launch until March"]
    assert [s["name"] for s in first] == ["highlights", "decisions", "action_items", "questions"]


def test_lectures_and_researcher_sections(earmark_home):
    store_said(
        earmark_home,
        "lectures",
        [
            (at(9, 0), "Osmosis is defined as the movement of water across a membrane."),
            (at(9, 5), "Why does the membrane let water through?"),
            (at(9, 20), "A catalyst is a substance that speeds up a reaction."),
        ],
    )
    store_said(
        earmark_home,
        "researcher",
        [
            (at(11, 0), "What if we prune the attention heads before fine tuning?"),
            (at(11, 5), "The pruning experiment failed again, the loss diverged."),
            (at(11, 9), "Priya's paper on sparse attention is worth reading."),
        ],
    )
    lecture = earmark("export", "--profile", "lectures", "--since", "2026-11-25", "-o", "-",
                      "--until", "2026-11-25")  # fmt: skip
    assert lecture.returncode == 0, lecture.stderr
    text = lecture.stdout
    osmosis = "Osmosis is defined as the movement of water across a membrane"
    assert f"- **Osmosis**: {osmosis} · 09:00" in text
    assert "- **catalyst**: A catalyst is a substance that speeds up a reaction · 09:20" in text
    terms = text.split("## Key terms of the period")[1].split("##")[0]
    assert "**osmosis**" in terms and "**catalyst**" in terms
    assert "**is**" not in terms and "**of**" not in terms  # words of every talk are not key
    assert "- 09:05 Why does the membrane let water through?" in lecture.stdout
    assert "## Outline" in lecture.stdout and "## Key terms of the period" in lecture.stdout

    research = earmark("export", "--profile", "researcher", "--since", "2026-11-25", "-o", "-",
                       "--until", "2026-11-25")  # fmt: skip
    assert research.returncode == 0, research.stderr
    sections = research.stdout.split("\n## ")
    ideas = next(s for s in sections if s.startswith("Ideas"))
    failed = next(s for s in sections if s.startswith("What failed"))
    papers = next(s for s in sections if s.startswith("Papers and tools"))
    assert "prune the attention heads" in ideas and "failed again" not in ideas
    assert "The pruning experiment failed again, the loss diverged" in failed
    assert "Priya's paper" in papers


def test_around_a_time_and_bad_export_input(earmark_home):
    store_said(earmark_home, "meetings", MEETING)
    around = earmark("transcripts", "--profile", "meetings", "--around", "2026-11-25T10:03")
    assert around.returncode == 0
    assert [line[21:] for line in around.stdout.splitlines()] == [
        "meetings/microphone  Thanks everyone for coming. We decided to postpone the launch "
        "until March.",
        "meetings/microphone  Alice will send the slides by Friday.",
        "meetings/microphone  Who is responsible for the backups?",
        "meetings/microphone  Bob needs to call the supplier on Monday.",
    ]
    backwards = earmark("export", "--profile", "meetings", "--since", "today", "--until", "2d")
    assert backwards.returncode == 1
    assert backwards.stderr.strip().startswith("earmark: the period ends (")
    assert backwards.stderr.strip().endswith("): expected --until after --since")
    nothing = earmark("export", "--profile", "journal", "-o", "-")
    assert "_Nothing was heard under this profile in this period._" in nothing.stdout


def chat_server(reply: str, received: list):
    """A local OpenAI-compatible chat endpoint answering every request with `reply`."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(
                (self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            )
            body = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def with_language_model(home, endpoint: str) -> None:
    (home / "config" / "profiles").mkdir(parents=True, exist_ok=True)
    (home / "config" / "profiles" / "meetings.yaml").write_text(
        "description: Meetings.\nexport:\n  sections: [action_items]\n  language_model:\n"
        f"    endpoint: {endpoint}\n    model: llama3.2\n    timeout_s: 5\n"
    )


def test_a_language_model_summary_when_the_profile_names_one(earmark_home):
    received: list = []
    server = chat_server("- The launch moves to March.\n- Alice sends the slides.", received)
    try:
        with_language_model(earmark_home, f"http://127.0.0.1:{server.server_port}/v1")
        store_said(earmark_home, "meetings", MEETING)
        out = earmark("export", "--profile", "meetings", "--since", "2026-11-25", "--until",
                      "2026-11-25", "-o", "-")  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert out.returncode == 0, out.stderr
    assert "## Summary\n\n- The launch moves to March.\n- Alice sends the slides." in out.stdout
    assert "- [ ] Alice will send the slides by Friday" in out.stdout  # extractive parts stay
    path, request = received[0]
    assert path == "/v1/chat/completions" and request["model"] == "llama3.2"
    assert "[10:02] Alice will send the slides by Friday." in request["messages"][1]["content"]


def test_a_model_on_this_machine_is_reached_directly_even_with_a_proxy_set(earmark_home):
    to_model: list = []
    to_proxy: list = []
    model = chat_server("- The launch moves to March.", to_model)
    proxy = chat_server("- What the proxy would make of it.", to_proxy)  # it records what it gets
    try:
        with_language_model(earmark_home, f"http://localhost:{model.server_port}/v1")
        store_said(earmark_home, "meetings", MEETING)
        proxied = {"http_proxy": f"http://127.0.0.1:{proxy.server_port}", "no_proxy": ""}
        out = earmark("export", "--profile", "meetings", "--since", "2026-11-25", "--until",
                      "2026-11-25", "-o", "-", env={**os.environ, **proxied})  # fmt: skip
    finally:
        for server in (model, proxy):
            server.shutdown()
            server.server_close()
    assert out.returncode == 0, out.stderr
    assert "- The launch moves to March." in out.stdout
    assert len(to_model) == 1 and to_proxy == []  # the transcript never went to the proxy


def test_an_unreachable_language_model_falls_back_and_says_so(earmark_home):
    with_language_model(earmark_home, "http://127.0.0.1:9/v1")
    store_said(earmark_home, "meetings", MEETING)
    out = earmark("export", "--profile", "meetings", "--since", "2026-11-25", "--until",
                  "2026-11-25", "-o", "-")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "> The language model at http://127.0.0.1:9/v1 gave no summary: it could not be " in (
        out.stdout
    )
    assert "This summary is extractive only." in out.stdout
    assert "## Summary" not in out.stdout and "- [ ] Alice will send the slides" in out.stdout


def test_a_long_period_is_read_on_every_core_and_gives_the_same_notes(earmark_home, monkeypatch):
    from daemon.core.paths import Paths
    from daemon.core.profiles import load_profile
    from daemon.summaries import export

    lines = [  # forty conversations half an hour apart, a minute between their sentences
        (at(0, 0) + c * 1800 + k * 60, text)
        for c in range(40)
        for k, (_, text) in enumerate(MEETING)
    ]
    store_said(earmark_home, "meetings", lines)
    paths = Paths.from_environment()
    profile = load_profile("meetings", paths.profiles_dir)
    one_core = export.summarize(paths, profile, at(0, 0), at(23, 59))
    monkeypatch.setattr(export, "_WORKERS_FROM_SEGMENTS", 1)
    used = []
    in_workers = export._in_workers
    monkeypatch.setattr(export, "_in_workers", lambda *a: used.append(1) or in_workers(*a))
    every_core = export.summarize(paths, profile, at(0, 0), at(23, 59))
    assert used and len(every_core["conversations"]) == 40
    for summary in (one_core, every_core):
        summary.pop("generated")
    assert every_core == one_core
