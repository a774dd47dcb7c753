"""How long `agentmem demo` takes, from a cold model cache and from a warm one.

Run: HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python benchmarks/bench_demo.py
     [--runs cold,warm] [--transcript docs/demo.md]

Each run is a fresh process (`python -m agentmem.cli demo`), so imports and model loads
count as a user sees them. "cold" points AGENTMEM_CACHE_DIR at an empty folder, so the
chat model is de-quantised and cached first (the first run after install); "warm" reuses
that cache. Prints wall time, the demo's own verdict (questions answered from memory)
and the load average before and after, since the machine may be shared. With
``--transcript`` the warm run's output is written as a Markdown page.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_demo(cache: Path) -> tuple[float, int, str]:
    env = dict(os.environ, AGENTMEM_CACHE_DIR=str(cache), HF_HUB_OFFLINE="1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "agentmem.cli", "demo"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return time.perf_counter() - started, done.returncode, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", default="cold,warm", help="which runs, in order")
    parser.add_argument("--transcript", type=Path, help="write the last run's output here")
    args = parser.parse_args()
    rows = []
    output = ""
    with tempfile.TemporaryDirectory(prefix="bench-demo-cache-") as tmp:
        for kind in args.runs.split(","):
            before = os.getloadavg()[0]
            seconds, code, output = run_demo(Path(tmp))
            after = os.getloadavg()[0]
            ends = [line for line in output.splitlines() if line.startswith("done in")]
            verdict = ends[-1].split("; ")[-1] if ends else "(no verdict)"
            rows.append((kind, seconds, code, verdict, before, after))
            print(f"{kind}: {seconds:.0f} s, exit {code}", file=sys.stderr, flush=True)
    print("| run | wall time | exit | demo's verdict | load before / after (2 CPUs) |")
    print("|---|---|---|---|---|")
    for kind, seconds, code, verdict, before, after in rows:
        print(f"| {kind} | {seconds:.0f} s | {code} | {verdict} | {before:.1f} / {after:.1f} |")
    if args.transcript is not None:
        args.transcript.write_text(
            "# `agentmem demo`: a transcript\n\n"
            "The output of one run of `agentmem demo` on the offline models (SmolLM2-135M,\n"
            "all-MiniLM-L6-v2), written by `python benchmarks/bench_demo.py --transcript\n"
            "docs/demo.md`. Replies are greedy, so a run on the same versions prints the same\n"
            "words; the timing line varies with the machine.\n\n"
            f"```text\n{output.rstrip()}\n```\n",
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
