"""Reply quality of the offline chat model, as `agentmem chat` uses it.

Run: HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python benchmarks/bench_replies.py
     [--personas N] [--out replies.jsonl] [--threads 1]

Plays the fixed prompts of ``benchmarks/reply_prompts.json`` (8 personas, 48 turns:
statements that tell memory about the user, then questions about what was told, in
English, Portuguese and Spanish) through ``Agent(memory=Memory.default(tmp))`` with the
offline defaults (SmolLM2-135M-Instruct, all-MiniLM-L6-v2), one persona per fresh memory,
one turn per day. Scores each reply:

- **same language**: ``agentmem._language.same_language``: stopword counts for en, pt,
  es, fr, de, it (the most frequent wins; a tie or no stopword, e.g. a bare name, counts
  as the same language) and no more than 10% non-Latin letters;
- **loop-free**: no word 4-gram (lower-cased, punctuation dropped) occurs twice;
- **right fact** (questions only): the reply contains one of the expected values
  (case and accents ignored).

Prints a table per language and overall, and the seconds per reply.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PROMPTS = Path(__file__).with_name("reply_prompts.json")
START = datetime(2024, 9, 2, 18, 0, tzinfo=UTC)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def loops(text: str, n: int = 4) -> bool:
    """Whether some word n-gram occurs more than once in ``text``."""
    words = re.findall(r"\w+", text.casefold())
    grams = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    return any(count > 1 for count in grams.values())


def has_fact(text: str, expected: list[str]) -> bool:
    """Whether ``text`` contains one of ``expected`` (case and accents ignored)."""
    folded = _fold(text)
    return any(_fold(value) in folded for value in expected)


def same_language(text: str, language: str) -> bool:
    """The library's own detector (see the module docstring)."""
    from agentmem._language import same_language as check

    return bool(text.strip()) and check(text, language)


class _Recorder:
    """Passes chat calls through, keeping the last prompt's user message."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.last = ""

    def chat(self, messages: Any, *, max_tokens: int | None = None) -> Any:
        self.last = messages[-1].content
        return self.llm.chat(messages, max_tokens=max_tokens)


def run(personas: list[dict[str, Any]], out: Path | None) -> list[dict[str, Any]]:
    from agentmem import Agent, ManualClock, Memory

    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-replies-") as tmp:
        agent_llm = None
        for persona in personas:
            clock = ManualClock(START)
            memory = Memory.default(Path(tmp) / persona["user"], clock=clock)
            agent = Agent(llm=agent_llm, memory=memory)
            agent_llm = agent.llm  # one model for every persona
            recorder = _Recorder(agent.reply_llm)
            agent.reply_llm = recorder  # keeps the prompt of each reply for the JSON lines
            for day, turn in enumerate(persona["turns"]):
                clock.set(START + timedelta(days=day))
                t0 = time.perf_counter()
                reply = agent.chat(turn["say"], user_id=persona["user"], session_id=f"d{day}")
                seconds = time.perf_counter() - t0
                row = {
                    "user": persona["user"],
                    "lang": persona["lang"],
                    "say": turn["say"],
                    "reply": reply.text,
                    "seconds": round(seconds, 2),
                    "respond_s": round(reply.timings.get("respond", 0.0), 2),
                    "completion_tokens": reply.completion_tokens,
                    "prompt": recorder.last,
                    "same_language": same_language(reply.text, persona["lang"]),
                    "loop_free": not loops(reply.text),
                }
                if "expect" in turn:
                    row["right_fact"] = has_fact(reply.text, turn["expect"])
                rows.append(row)
                print(
                    f"[{time.perf_counter() - started:6.0f}s] {persona['user']}: {turn['say']}\n"
                    f"    -> {reply.text!r}",
                    file=sys.stderr,
                    flush=True,
                )
                if out is not None:
                    with out.open("a") as fh:
                        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            memory.close()
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    def share(selected: list[dict[str, Any]], key: str) -> str:
        values = [r[key] for r in selected if key in r]
        if not values:
            return "-"
        return f"{sum(values)}/{len(values)} = {100 * sum(values) / len(values):.0f}%"

    lines = [
        "| language | replies | same language | loop-free | right fact (questions) | s/reply |",
        "|---|---|---|---|---|---|",
    ]
    groups = sorted({r["lang"] for r in rows})
    for name, selected in [
        *((g, [r for r in rows if r["lang"] == g]) for g in groups),
        ("all", rows),
    ]:
        lines.append(
            f"| {name} | {len(selected)} | {share(selected, 'same_language')} | "
            f"{share(selected, 'loop_free')} | {share(selected, 'right_fact')} | "
            f"{statistics.mean(r['seconds'] for r in selected):.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--personas", type=int, default=None, help="only the first N personas")
    parser.add_argument("--out", type=Path, help="append one JSON line per reply here")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for the whole run (default 1: on a busy machine 2 threads are many "
        "times slower; greedy replies do not depend on it)",
    )
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    personas = json.loads(PROMPTS.read_text())["personas"][: args.personas]
    if args.out is not None:
        args.out.unlink(missing_ok=True)
    started = time.perf_counter()
    rows = run(personas, args.out)
    print(table(rows))
    print(
        f"\n{len(rows)} replies in {time.perf_counter() - started:.0f} s; load average now "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
