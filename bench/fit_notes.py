"""Fit the two small linear models of `daemon/summaries/notes.py` and write
`daemon/summaries/notes_model.py`.

    python bench/fit_notes.py [--meetings ../shared/eval/meetings]

The development meetings (`train/`: real meetings, transcribed and summarised by people) are
turned into sentences exactly as `earmark import` and `earmark export` would (WebVTT with voice
tags, split into segments and sentences), then:

- the everyday words: words that occur in at least 40% of the meetings of every kind (design
  meetings, research meetings, committees), so they say how something is said, never what about;
- OVERVIEW: a sentence's numeric features and everyday words -> how much of it the people's
  summary of the whole meeting says too (clipped unigram precision);
- DECISION: a settling sentence read with what follows (40 words) -> how much of the decisions
  the people's summary names it covers.

Ridge regression (numpy), standardised features folded back into the weights. Deterministic.
The `val/` meetings are never read here; `score.py --split val` measures on them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from daemon.summaries import notes  # noqa: E402
from daemon.summaries.extractors import Sentence, split_sentences  # noqa: E402
from daemon.transcribe.transcript_formats import read_transcript, split_cue  # noqa: E402

EVERYDAY_SHARE = 0.4
RIDGE = {"overview": 1000.0, "decision": 100.0}
SEGMENT_S = 28.0  # the default profile's max_utterance_s: cues longer than this are split


def load_score(meetings: Path):
    spec = importlib.util.spec_from_file_location("score", meetings / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def kind(name: str) -> str:
    return "design" if name[:2] in ("ES", "IS", "TS") else "research" if name[0] == "B" else "other"


def sentences_of(score, meeting: dict, tmp: Path) -> list[Sentence]:
    """The meeting as Earmark stores and exports it after `earmark import` of score.py's VTT."""
    vtt, _, _ = score.to_vtt(meeting)
    path = tmp / "meeting.vtt"
    path.write_text(vtt)
    out = []
    for cue in read_transcript(path):
        for piece in split_cue(cue, SEGMENT_S):
            for s in split_sentences(piece.text, piece.start, piece.end - piece.start):
                out.append(Sentence(s.text, s.at, cue.speaker))
    return out


def everyday_words(talks: dict[str, notes.Talk]) -> list[str]:
    per_kind: dict[str, Counter] = {}
    counts: Counter = Counter()
    for name, talk in talks.items():
        counts[kind(name)] += 1
        per_kind.setdefault(kind(name), Counter()).update({w for t in talk.tokens for w in t})
    shared = set.intersection(
        *[{w for w, n in c.items() if n >= EVERYDAY_SHARE * counts[k]} for k, c in per_kind.items()]
    )
    return sorted(w for w in shared if re.fullmatch(r"[a-z][a-z'-]*", w))


def rows(talk: notes.Talk, indexes, everyday: list[str], passage: bool):
    column = {w: j for j, w in enumerate(everyday)}
    x = []
    for i in indexes:
        numbers, words = notes.features(talk, i, passage=passage)
        lexical = [0.0] * len(everyday)
        for w in words:
            lexical[column[w]] = 1.0
        x.append([1.0, *numbers, *lexical])
    return x


def fit(x: np.ndarray, y: np.ndarray, ridge: float):
    mean, scale = x.mean(0), x.std(0) + 1e-9
    mean[0], scale[0] = 0.0, 1.0  # the constant column
    z = (x - mean) / scale
    w = np.linalg.solve(z.T @ z + ridge * np.eye(z.shape[1]), z.T @ y)
    effective = w / scale
    constant = float(w[0] - (mean[1:] * effective[1:]).sum())
    return constant, effective[1:]


def model_text(name: str, constant: float, weights, count: int, everyday: list[str]) -> str:
    numbers = ", ".join(f"{w:.6g}" for w in weights[:count])
    words = {w: round(float(v), 6) for w, v in zip(everyday, weights[count:], strict=True)}
    words = {w: v for w, v in words.items() if abs(v) >= 1e-5}
    return (
        f"{name} = Linear(\n    constant={constant:.6g},\n    numbers=({numbers},),\n"
        f"    words={json.dumps(words, sort_keys=True, indent=8)[:-1]}    }},\n)\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n")[:2]))
    parser.add_argument("--meetings", type=Path, default=REPO.parent / "shared/eval/meetings")
    parser.add_argument("--out", type=Path, default=REPO / "daemon/summaries/notes_model.py")
    args = parser.parse_args()
    score = load_score(args.meetings)
    files = sorted((args.meetings / "train").glob("*.json"))
    talks, meetings = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            meetings[f.stem] = json.loads(f.read_text())
            talks[f.stem] = notes.Talk.of(sentences_of(score, meetings[f.stem], Path(tmp)))
    everyday = everyday_words(talks)
    notes.notes_model.EVERYDAY = frozenset(everyday)  # the features below read it
    count = len(notes.features(next(iter(talks.values())), 0)[0])

    x, y = [], []
    for name, talk in talks.items():
        summary = Counter(score.words(meetings[name]["general_query_list"][0]["answer"]))
        for i in range(len(talk)):
            said = Counter(score.words(talk.sentences[i].text))
            y.append(sum((said & summary).values()) / max(1, sum(said.values())))
        x += rows(talk, range(len(talk)), everyday, passage=False)
    overview = fit(np.array(x), np.array(y), RIDGE["overview"])

    x, y = [], []
    for name, talk in talks.items():
        gold = [score.content(g) for g in score.gold_decisions(meetings[name])]
        if not gold:
            continue
        for i in range(len(talk)):
            said = score.content(" ".join(" ".join(talk.window_tokens(i)).split()[:40]))
            y.append(max(len(g & said) / max(1, len(g)) for g in gold))
        x += rows(talk, range(len(talk)), everyday, passage=True)
    decision = fit(np.array(x), np.array(y), RIDGE["decision"])

    words = ",\n".join(f"        {w!r}" for w in everyday)
    args.out.write_text(
        '"""The weights of `daemon/summaries/notes.py`\'s two linear models, fitted on the\n'
        "development meetings by `bench/fit_notes.py` (which writes this file; do not edit it by\n"
        "hand).\n"
        '"""\n\n'
        "from __future__ import annotations\n\n"
        "from dataclasses import dataclass, field\n\n"
        '__all__ = ["Linear", "EVERYDAY", "OVERVIEW", "DECISION"]\n\n\n'
        "@dataclass(frozen=True)\n"
        "class Linear:\n"
        '    """constant + numbers . features + the weights of the everyday words present."""\n\n'
        "    constant: float\n"
        "    numbers: tuple[float, ...]\n"
        "    words: dict[str, float] = field(default_factory=dict)\n\n\n"
        "# words said in at least 40% of the meetings of every kind: how things are said\n"
        f"EVERYDAY = frozenset(\n    (\n{words},\n    )\n)\n\n"
        + model_text("OVERVIEW", overview[0], overview[1], count, everyday)
        + "\n"
        + model_text("DECISION", decision[0], decision[1], count, everyday)
    )
    print(f"{len(files)} meetings, {len(everyday)} everyday words; wrote {args.out}")


if __name__ == "__main__":
    main()
