"""Compare memory systems on a generated 30-session conversation (retrieval only, offline).

Run: python examples/eval_recall.py [OUT_DIR] [--hash]
"""

import sys
from pathlib import Path

from agentmem.eval import Evaluator, generate, load_locomo

out = Path(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "eval-out")
if "--hash" in sys.argv:  # no model at all: a hashing embedder
    from agentmem.testing import HashEmbedder

    embedder = HashEmbedder(256)
else:  # the bundled all-MiniLM-L6-v2, offline
    from agentmem.embedders import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()

records = [generate.conversation(seed, sessions=30) for seed in (1, 2, 3)]
dataset = load_locomo(generate.write_locomo(out / "generated.json", records))
evaluator = Evaluator(embedder=embedder, k=10, out_dir=out)
report = evaluator.run(
    ["full-context", "no-memory", "recent-window", "vector", "bm25", "hybrid"], dataset, seed=0
)
paths = report.save(out)
print(report.to_markdown())
print("wrote", *paths.values())
