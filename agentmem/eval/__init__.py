"""Evaluation: run memory systems side by side on long conversations and score them.

::

    from agentmem.eval import Evaluator, generate, load_locomo
    data = load_locomo(generate.write_locomo("conv.json", [generate.conversation(7)]))
    report = Evaluator(embedder=embedder).run(["full-context", "vector"], data)
    report.save("out/")
"""

from agentmem.eval import generate
from agentmem.eval.babi import BabiQuestion, BabiStory, babi_files, load_babi
from agentmem.eval.conflicts import (
    ConflictEvaluator,
    ConflictItem,
    ConflictReport,
    StalenessReport,
    classify_choice,
    load_conflictqa,
    memorization_ratio,
    staleness,
)
from agentmem.eval.dataset import Conversation, Dataset, Question, Session, Turn
from agentmem.eval.facts_system import FactMemorySystem, parse_fact
from agentmem.eval.harness import Evaluator
from agentmem.eval.interference import (
    Episode,
    InterferenceEvaluator,
    InterferenceReport,
    babi_episodes,
    update_stream_episodes,
)
from agentmem.eval.intervals import Rate, bootstrap_interval, sign_test
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
    mentions,
    normalize_answer,
    percentile,
    picks_answer,
    recall_at_k,
    token_f1,
)
from agentmem.eval.personas import match_turns, persona_questions
from agentmem.eval.report import QuestionResult, Report, Summary
from agentmem.eval.shared_data import load_vocabulary, shared_data_dir, shared_path
from agentmem.eval.substitution import EntityQA, load_entities, load_entity_qa, substitute_all
from agentmem.eval.systems import (
    BM25System,
    FullContextSystem,
    MemorySystem,
    NoMemorySystem,
    RecentWindowSystem,
    StoredAnswer,
    System,
    SystemFactory,
    build_system,
    parse_system_spec,
    register_system,
    registered_systems,
)
from agentmem.eval.tabular import load_conflict_table, load_recall_table, parse_columns

__all__ = [
    "parse_columns",
    "load_recall_table",
    "load_conflict_table",
    "persona_questions",
    "match_turns",
    "sign_test",
    "bootstrap_interval",
    "Rate",
    "BM25System",
    "BabiQuestion",
    "BabiStory",
    "ConflictEvaluator",
    "ConflictItem",
    "ConflictReport",
    "Conversation",
    "Dataset",
    "DatasetError",
    "EntityQA",
    "Episode",
    "Evaluator",
    "FactMemorySystem",
    "FullContextSystem",
    "InterferenceEvaluator",
    "InterferenceReport",
    "MemorySystem",
    "NoMemorySystem",
    "Question",
    "QuestionResult",
    "RecentWindowSystem",
    "Report",
    "Session",
    "StalenessReport",
    "StoredAnswer",
    "Summary",
    "System",
    "SystemFactory",
    "Turn",
    "babi_episodes",
    "babi_files",
    "build_system",
    "classify_choice",
    "exact_match",
    "generate",
    "is_abstention",
    "load",
    "load_babi",
    "load_conflictqa",
    "load_entities",
    "load_entity_qa",
    "load_locomo",
    "load_longmemeval",
    "load_msc",
    "load_vocabulary",
    "memorization_ratio",
    "mentions",
    "normalize_answer",
    "parse_fact",
    "parse_locomo_date",
    "parse_system_spec",
    "percentile",
    "picks_answer",
    "recall_at_k",
    "register_system",
    "registered_systems",
    "shared_data_dir",
    "shared_path",
    "staleness",
    "substitute_all",
    "token_f1",
    "update_stream_episodes",
]
