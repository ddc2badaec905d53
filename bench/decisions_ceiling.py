"""How many of the decisions people's summaries name any decision list could match.

    python bench/decisions_ceiling.py [--split val] [--meetings ../shared/eval/meetings]

Uses `score.py`'s own matching (a decision is matched when an item's first 40 words hold a
quarter of its content words) and prints, for the split:
  - every decision with the best share any 40-word stretch of the meeting reaches (the ceiling:
    an item placed perfectly for each decision, knowing the summary);
  - what Earmark's decision finder matches, and the same items read with the two sentences
    either side of them;
  - blind picks that know nothing of decisions: the meeting's 400 most frequent content words
    packed ten 40-word items, and the most topical 40 words of each tenth of the meeting.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
from collections import Counter
from pathlib import Path

from daemon.summaries import notes
from daemon.summaries.extractors import split_sentences

REPO = Path(__file__).resolve().parents[1]
WINDOW = 40


def load_score(meetings: Path):
    spec = importlib.util.spec_from_file_location("score", meetings / "score.py")
    score = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(score)
    return score


def share(score, gold: str, item: str) -> float:
    return len(score.content(gold) & score.content(item)) / max(1, len(score.content(gold)))


def matched(score, gold: list[str], items: list[str]) -> int:
    said = [" ".join(d.split()[:WINDOW]) for d in items]
    return sum(max((share(score, g, d) for d in said), default=0) >= 0.25 for g in gold)


SECONDS_PER_WORD = 0.35  # as score.py times its transcripts


def sentences(turns: list[tuple[str, str]]):
    out, at = [], 0.0
    for speaker, text in turns:
        length = len(text.split()) * SECONDS_PER_WORD
        out += split_sentences(text, at, length, speaker)
        at += length + 0.3
    return out


def finder(turns, *, around: int = 0) -> list[str]:
    said = sentences(turns)
    talk = notes.Talk.of(said)
    items = notes.decisions(talk)
    if not around:
        return [item.text for item in items]
    where = {s.at: k for k, s in enumerate(said)}
    return [
        " ".join(s.text for s in said[max(0, where[i.at] - around) : where[i.at] + around + 1])
        for i in items
    ]


def frequent_words(score, turns) -> list[str]:
    counts = Counter(
        w for _, t in turns for w in score.words(t) if w not in score.STOP and len(w) > 2
    )
    top = [w for w, _ in counts.most_common(10 * WINDOW)]
    return [" ".join(top[k * WINDOW : (k + 1) * WINDOW]) for k in range(10)]


def topical_tenths(score, turns) -> list[str]:
    words = [w for _, t in turns for w in t.split()]
    out = []
    for k in range(10):
        part = words[k * len(words) // 10 : (k + 1) * len(words) // 10]
        counts = Counter(
            w for x in part for w in score.words(x) if w not in score.STOP and len(w) > 2
        )
        stretches = [part[i : i + WINDOW] for i in range(0, max(1, len(part) - WINDOW + 1), 5)]
        if stretches and stretches[0]:
            best = max(
                stretches,
                key=lambda s: sum(
                    math.log(1 + counts[w]) for w in {w for x in s for w in score.words(x)}
                ),
            )
            out.append(" ".join(best))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", default="val", choices=["train", "val"])
    parser.add_argument("--meetings", type=Path, default=REPO.parent / "shared/eval/meetings")
    args = parser.parse_args()
    score = load_score(args.meetings)
    totals: Counter = Counter()
    for path in sorted((args.meetings / args.split).glob("*.json")):
        meeting = json.loads(path.read_text())
        turns = [
            (t["speaker"], c)
            for t in meeting["meeting_transcripts"]
            if (c := score.clean(t["content"]))
        ]
        gold = score.gold_decisions(meeting)
        if not gold:
            continue
        words = " ".join(t for _, t in turns).split()
        stretches = [
            " ".join(words[i : i + WINDOW]) for i in range(0, max(1, len(words) - WINDOW + 1), 10)
        ]
        for g in gold:
            best = max(share(score, g, s) for s in stretches)
            totals["ceiling"] += best >= 0.25
            print(f"{path.stem:14} best stretch {best:.2f}  {g[:100]}")
        totals["gold"] += len(gold)
        totals["finder"] += matched(score, gold, finder(turns))
        totals["finder, two sentences either side"] += matched(score, gold, finder(turns, around=2))
        totals["400 most frequent words"] += matched(score, gold, frequent_words(score, turns))
        totals["most topical 40 words of each tenth"] += matched(
            score, gold, topical_tenths(score, turns)
        )
    print(
        f"\n{totals['gold']} decisions in {args.split}; matched (a quarter of their content words"
        " in an item):"
    )
    for name in (
        "ceiling",
        "finder",
        "finder, two sentences either side",
        "400 most frequent words",
        "most topical 40 words of each tenth",
    ):
        print(f"  {name:40} {totals[name]:3d}  ({totals[name] / max(1, totals['gold']):.0%})")


if __name__ == "__main__":
    main()
