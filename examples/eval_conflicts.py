"""Knowledge conflicts and interference, offline and without a model download.

Run: python examples/eval_conflicts.py OUT_DIR
Uses the hashing embedder and a stand-in chat model, so it runs in seconds; swap in
agentmem.llms.LocalLLM() (or any ChatModel) to measure a real model.
"""

from __future__ import annotations

import sys

from agentmem.eval import (
    ConflictEvaluator,
    InterferenceEvaluator,
    load_entities,
    load_entity_qa,
    load_vocabulary,
    staleness,
    substitute_all,
    update_stream_episodes,
)
from agentmem.policies import UpdatePolicy
from agentmem.testing import HashEmbedder, ScriptedLLM

out = sys.argv[1] if len(sys.argv) > 1 else "eval-conflicts-out"
embedder = HashEmbedder(256)

# 1. update streams: the facts memory with UpdatePolicy hands back only the current value
episodes = update_stream_episodes(load_vocabulary(), n_keys=4, updates=[1, 2, 4, 8, 16], seed=0)
report = InterferenceEvaluator(embedder=embedder, progress=False).run(
    ["full-context", "recent-window:n=8", "vector", "facts", "facts:policy=none"], episodes
)
report.save(out, stem="interference")
print(report.to_markdown())

# 2. outdated vs updated memories, per retention policy set
print(staleness({"none": [], "update": [UpdatePolicy()]}, embedder=embedder).to_markdown())

# 3. entity substitution with a model that always answers from its prior
items = load_entity_qa()
swapped = substitute_all(items, load_entities(), seed=0)
prior = ScriptedLLM([i.answer for i in items] * 2)
conflicts = ConflictEvaluator(prior, progress=False).substitution(items, swapped)
conflicts.save(out, stem="substitution")
print(conflicts.to_markdown())
