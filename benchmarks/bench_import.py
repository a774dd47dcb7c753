"""Import time of ``import agentmem`` against ``import numpy, pydantic`` (its two real needs).

Each sample is a fresh interpreter; the two commands alternate so a busy machine slows
both alike. Prints the medians, the ratio, and how many modules each import loads.

    python benchmarks/bench_import.py --runs 15
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "import numpy, pydantic": "import numpy, pydantic",
    "import agentmem": "import agentmem",
    "agentmem --help (CLI)": "import sys; sys.argv = ['agentmem', '--help']\n"
    "from agentmem.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass",
}
_COUNT = "\nimport sys; print(len(sys.modules), file=sys.stderr)"


def sample(code: str) -> tuple[float, int]:
    """Wall time of a fresh interpreter running ``code`` minus an empty one's; modules."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code + _COUNT], capture_output=True, text=True, check=True
    )
    return time.perf_counter() - start, int(done.stderr.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    empty = statistics.median(sample("pass")[0] for _ in range(args.runs))
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    modules: dict[str, int] = {}
    for _ in range(args.runs):
        for name, code in COMMANDS.items():
            seconds, count = sample(code)
            times[name].append(seconds - empty)
            modules[name] = count
    base = statistics.median(times["import numpy, pydantic"])
    print(f"interpreter start-up (subtracted): {empty * 1000:.0f} ms, {args.runs} runs each\n")
    print("| command | median ms | ratio to numpy+pydantic | modules loaded |")
    print("|---|---|---|---|")
    for name in COMMANDS:
        median = statistics.median(times[name])
        print(f"| {name} | {median * 1000:.0f} | {median / base:.2f} | {modules[name]} |")


if __name__ == "__main__":
    main()
