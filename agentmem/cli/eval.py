"""``agentmem eval recall ...``: run evaluators from the command line.

Each evaluator is one sub-command: a function ``_add_<name>(actions)`` that adds its
parser, listed in ``_SUBCOMMANDS``. Add ``interference`` or ``conflicts`` the same way.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentmem._errors import UserError

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``eval`` command group."""
    parser = sub.add_parser("eval", help="evaluate memory systems on long conversations")
    actions = parser.add_subparsers(dest="evaluator", metavar="EVALUATOR", required=True)
    for add in _SUBCOMMANDS:
        add(actions)


def _add_recall(actions: Any) -> None:
    p = actions.add_parser(
        "recall",
        help="long-term conversation recall: evidence recall@k, answer F1, prompt tokens",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="a dataset file (LoCoMo / LongMemEval JSON, MSC JSONL)")
    source.add_argument(
        "--generate", type=int, metavar="SEED", help="evaluate on a generated conversation"
    )
    p.add_argument("--format", choices=["locomo", "longmemeval", "msc"], default="locomo")
    p.add_argument("--sessions", type=int, default=30, help="sessions per generated conversation")
    p.add_argument(
        "--systems",
        default="full-context,no-memory,recent-window,vector,bm25",
        help="comma-separated system specs, e.g. vector,recent-window:n=40 "
        "(';' separates specs that themselves hold commas)",
    )
    p.add_argument("--out", required=True, help="folder for report.{json,md,png} and the cache")
    p.add_argument("--k", type=int, default=10, help="recalled turns put in the prompt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-questions", type=int, help="questions per conversation (sampled)")
    p.add_argument("--limit", type=int, help="only the first N conversations")
    p.add_argument(
        "--llm",
        choices=["none", "local"],
        default="none",
        help="answer the questions with the offline local model (slow) or not at all",
    )
    p.add_argument(
        "--embedder",
        choices=["default", "hash"],
        default="default",
        help="the bundled sentence-transformers model, or a hashing embedder (no model)",
    )
    p.set_defaults(func=_recall)


_SUBCOMMANDS: list[Callable[[Any], None]] = [_add_recall]


def _systems(text: str) -> list[str]:
    separator = ";" if ";" in text else ","
    if separator == "," and "=" in text:
        # "recent-window:n=40,vector": options end where a registered name starts.
        from agentmem.eval import registered_systems

        names = set(registered_systems())
        specs: list[str] = []
        for part in text.split(","):
            if specs and part.split(":")[0].strip() not in names:
                specs[-1] += "," + part
            else:
                specs.append(part)
        return [s.strip() for s in specs if s.strip()]
    return [s.strip() for s in text.split(separator) if s.strip()]


def _recall(args: argparse.Namespace) -> int:
    from agentmem.eval import Evaluator, generate, load

    out = Path(args.out).expanduser()
    if args.generate is not None:
        path = generate.write_locomo(
            out / f"generated-{args.generate}.json",
            [generate.conversation(args.generate, sessions=args.sessions)],
        )
        dataset = load(path, "locomo")
    else:
        dataset = load(args.data, args.format)
    if args.limit is not None:
        dataset = dataset.model_copy(update={"conversations": dataset.conversations[: args.limit]})
    if dataset.question_count == 0:
        msg = f"{dataset.name} asks no questions (MSC has none); use LoCoMo or LongMemEval data"
        raise UserError(msg)
    embedder: Any
    if args.embedder == "hash":
        from agentmem.testing import HashEmbedder

        embedder = HashEmbedder(256)
    else:
        from agentmem.embedders import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder()
    llm = None
    if args.llm == "local":
        from agentmem.llms import LocalLLM

        llm = LocalLLM()
    evaluator = Evaluator(
        embedder=embedder, k=args.k, out_dir=out, max_questions=args.max_questions
    )
    report = evaluator.run(_systems(args.systems), dataset, llm=llm, seed=args.seed)
    paths = report.save(out)
    print(report.to_markdown())
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
