"""Evaluation: run memory systems side by side on long conversations and score them.

::

    from agentmem.eval import Evaluator, generate, load_locomo
    data = load_locomo(generate.write_locomo("conv.json", [generate.conversation(7)]))
    report = Evaluator(embedder=embedder).run(["full-context", "vector"], data)
    report.save("out/")
"""

from agentmem.eval import facts_system, generate
from agentmem.eval.dataset import Conversation, Dataset, Question, Session, Turn
from agentmem.eval.harness import Evaluator
from agentmem.eval.loaders import (
    DatasetError,
    load,
    load_locomo,
    load_longmemeval,
    load_msc,
    parse_locomo_date,
)
from agentmem.eval.metrics import (
    exact_match,
    is_abstention,
    normalize_answer,
    percentile,
    recall_at_k,
    token_f1,
)
from agentmem.eval.report import QuestionResult, Report, Summary
from agentmem.eval.systems import (
    BM25System,
    FullContextSystem,
    MemorySystem,
    NoMemorySystem,
    RecentWindowSystem,
    System,
    SystemFactory,
    build_system,
    parse_spec,
    register_system,
    registered_systems,
)

__all__ = [
    "BM25System",
    "Conversation",
    "Dataset",
    "DatasetError",
    "Evaluator",
    "FullContextSystem",
    "MemorySystem",
    "NoMemorySystem",
    "Question",
    "QuestionResult",
    "RecentWindowSystem",
    "Report",
    "Session",
    "Summary",
    "System",
    "SystemFactory",
    "Turn",
    "build_system",
    "exact_match",
    "generate",
    "is_abstention",
    "load",
    "load_locomo",
    "load_longmemeval",
    "load_msc",
    "normalize_answer",
    "parse_locomo_date",
    "parse_spec",
    "percentile",
    "recall_at_k",
    "register_system",
    "registered_systems",
    "token_f1",
]
