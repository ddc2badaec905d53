"""Search latency on a large index, and reindex throughput.

Generates N synthetic segments (default 1,000,000) in a store, with a Zipf-distributed vocabulary
built around the words of the eval transcripts, rebuilds the index from the store (`earmark
reindex`), then times two-word queries, snippets included.

    python bench/search_1m.py [--segments 1000000] [--queries 300] [--keep DIR]

With --keep DIR the generated store and index stay in DIR (and are reused if already there),
for `bench/search_window.py --home DIR`.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from daemon.storage.search import SearchIndex
from daemon.storage.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_speech import DEFAULT_EVAL, normalize  # noqa: E402

SYLLABLES = ["ka", "lo", "mi", "ren", "tu", "sa", "vek", "do", "ni", "par", "qua", "shi", "bel"]


def vocabulary(size: int, rng: random.Random) -> list[str]:
    words: list[str] = []
    manifest = DEFAULT_EVAL / "MANIFEST.tsv"
    if manifest.exists():
        for line in manifest.read_text().splitlines()[1:]:
            words += normalize(line.split("\t")[3])
    seen = list(dict.fromkeys(words))
    while len(seen) < size:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.append(word)
    return seen[:size]


def fill(store: Store, count: int, words: list[str], rng: random.Random) -> None:
    cumulative, total = [], 0.0
    for rank in range(len(words)):
        total += 1 / (rank + 1)
        cumulative.append(total)
    conn = store.connection()
    start = time.time() - count * 5.0
    batch = 20_000
    for first in range(0, count, batch):
        rows = []
        for i in range(first, min(count, first + batch)):
            sentence = rng.choices(words, cum_weights=cumulative, k=rng.randint(6, 24))
            text = " ".join(sentence).capitalize() + "."
            rows.append((i + 1, f"u{i}", start + i * 5.0, text))
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO utterances (id, uid, profile, source, start, end, model, transcribed_at)"
            " VALUES (?, ?, 'bench', 'microphone', ?, ? + 4, 'bench', 0)",
            [(r[0], r[1], r[2], r[2]) for r in rows],
        )
        conn.executemany(
            "INSERT INTO segments (utterance_id, profile, source, start, end, text, avg_logprob,"
            " no_speech_prob, compression_ratio, words) VALUES (?, 'bench', 'microphone', ?, ? + 4,"
            " ?, -0.3, 0.05, 1.4, '[]')",
            [(r[0], r[2], r[2], r[3]) for r in rows],
        )
        conn.execute("COMMIT")


def build(home: Path, segments: int, words: list[str], rng: random.Random) -> None:
    store = Store(home / "e.db")
    started = time.perf_counter()
    fill(store, segments, words, rng)
    print(f"generated {segments:,} segments in {time.perf_counter() - started:.0f} s")
    index = SearchIndex(home / "index", "bench")
    started = time.perf_counter()
    indexed = index.rebuild(store)
    seconds = time.perf_counter() - started
    size = sum(f.stat().st_size for f in (home / "index" / "bench").iterdir())
    print(
        f"reindex: {indexed:,} segments in {seconds:.0f} s = {indexed / seconds:,.0f} "
        f"segments/s, index {size / 1024**2:.0f} MB"
    )
    index.close()


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--vocabulary", type=int, default=30_000)
    parser.add_argument("--keep", type=Path, help="build in (or reuse) this directory")
    args = parser.parse_args()
    rng = random.Random(42)
    with tempfile.TemporaryDirectory() as tmp:
        home = args.keep or Path(tmp)
        home.mkdir(parents=True, exist_ok=True)
        words = vocabulary(args.vocabulary, rng)
        index = SearchIndex(home / "index", "bench")
        if not index.exists():
            build(home, args.segments, words, rng)

        # Two-word queries from the words people would search for: not the 100 commonest.
        pool = words[100:5000]
        queries = [f"{rng.choice(pool)} {rng.choice(pool)}" for _ in range(args.queries)]
        queries += [
            f"{rng.choice(words[:100])} {rng.choice(pool)}" for _ in range(args.queries // 3)
        ]
        index.search(queries[0])  # open the index once, as the daemon and search window do
        timings, hits = [], 0
        for q in queries:
            t = time.perf_counter()
            found = index.search(q, limit=10)
            timings.append((time.perf_counter() - t) * 1000)
            hits += len(found)
        print(
            f"two-word queries: {len(queries)}, {hits / len(queries):.1f} hits each with snippets"
        )
        print(
            f"search latency: p50 {percentile(timings, 0.5):.1f} ms, "
            f"p95 {percentile(timings, 0.95):.1f} ms, max {max(timings):.1f} ms"
            "   (target p95 <= 50 ms)"
        )
        cold = []
        for q in queries[:20]:
            t = time.perf_counter()
            SearchIndex(home / "index", "bench").search(q, limit=10)
            cold.append((time.perf_counter() - t) * 1000)
        print(
            f"one-shot (open index + search, as `earmark search` does): p50 "
            f"{percentile(cold, 0.5):.0f} ms"
        )


if __name__ == "__main__":
    main()
