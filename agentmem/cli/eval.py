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
    p.add_argument(
        "--format", choices=["locomo", "longmemeval", "msc", "jsonl", "csv"], default="locomo"
    )
    p.add_argument(
        "--columns",
        help="jsonl/csv: FIELD=COLUMN pairs, e.g. question=q,answer=a,context=passage "
        "(fields: question, answer, context, evidence, date, category, id, conversation)",
    )
    p.add_argument("--sessions", type=int, default=30, help="sessions per generated conversation")
    p.add_argument(
        "--systems",
        default="full-context,no-memory,recent-window,vector,bm25,hybrid",
        help="comma-separated system specs, e.g. vector,recent-window:n=40 "
        "(';' separates specs that themselves hold commas)",
    )
    p.add_argument("--out", required=True, help="folder for report.{json,md,png} and the cache")
    p.add_argument("--k", type=int, default=10, help="recalled turns put in the prompt")
    p.add_argument("--ks", default="1,5,10,25", help="cut-offs evidence recall@k is reported at")
    p.add_argument(
        "--seed",
        type=int,
        help="seed of question sampling and intervals (default: the --generate seed, else 0)",
    )
    p.add_argument("--max-questions", type=int, help="questions per conversation (sampled)")
    p.add_argument("--limit", type=int, help="only the first N conversations")
    _add_model_options(p, judge=True)
    p.add_argument(
        "--embedder",
        choices=["default", "hash"],
        default="default",
        help="the bundled sentence-transformers model, or a hashing embedder (no model)",
    )
    p.set_defaults(func=_recall)


def _add_model_options(p: Any, *, judge: bool, default: str = "none") -> None:
    """``--llm``, ``--base-url``, ``--model``, ``--api-key-env`` (and the judge's)."""
    p.add_argument(
        "--llm",
        choices=["none", "local", "openai"],
        default=default,
        help="the reader: none (retrieval only), the offline local model (slow), or an "
        "OpenAI-compatible server (--base-url, --model)",
    )
    p.add_argument(
        "--base-url",
        help="--llm openai: the server, e.g. http://localhost:8080/v1 (llama.cpp), "
        "http://localhost:8000/v1 (vLLM), http://localhost:11434/v1 (Ollama)",
    )
    p.add_argument("--model", help="--llm openai: the model name the server expects")
    p.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        help="the environment variable holding the API key (none needed for local servers)",
    )
    if judge:
        p.add_argument(
            "--judge",
            choices=["none", "local", "openai"],
            default="none",
            help="grade answers with an LLM judge ('J' beside F1/EM): the offline model or "
            "an OpenAI-compatible server (--judge-base-url / --judge-model, default: the "
            "reader's)",
        )
        p.add_argument("--judge-base-url", help="the judge's server (default: --base-url)")
        p.add_argument("--judge-model", help="the judge's model name (default: --model)")


def _chat_model(kind: str, base_url: str | None, model: str | None, key_env: str) -> Any:
    """The chat model an option names: None, the local model or an OpenAI-compatible one."""
    if kind == "none":
        return None
    if kind == "local":
        from agentmem.llms import LocalLLM

        return LocalLLM()
    if not base_url or not model:
        msg = "an OpenAI-compatible model needs --base-url URL and --model NAME"
        raise UserError(msg)
    import os

    from agentmem.llms import OpenAICompatibleLLM

    return OpenAICompatibleLLM(base_url, model, api_key=os.environ.get(key_env) or "")


def _reader(args: argparse.Namespace) -> Any:
    return _chat_model(args.llm, args.base_url, args.model, args.api_key_env)


def _judge(args: argparse.Namespace) -> Any:
    return _chat_model(
        args.judge,
        args.judge_base_url or args.base_url,
        args.judge_model or args.model,
        args.api_key_env,
    )


def _ints(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        msg = f"expected comma-separated integers, got {text!r}"
        raise UserError(msg) from exc


def _common(p: Any, systems: str) -> None:
    p.add_argument("--systems", default=systems, help="comma-separated system specs")
    p.add_argument("--out", required=True, help="folder for the report (json, md, png)")
    p.add_argument("--seed", type=int, default=0)
    _add_model_options(p, judge=False)
    p.add_argument(
        "--embedder",
        choices=["default", "hash"],
        default="hash",
        help="a hashing embedder (no model, the default) or the bundled sentence model",
    )


def _embedder(name: str) -> Any:
    if name == "hash":
        from agentmem.testing import HashEmbedder

        return HashEmbedder(256)
    from agentmem.embedders import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


def _add_interference(actions: Any) -> None:
    p = actions.add_parser(
        "interference", help="in-context interference: accuracy vs updates or distractors"
    )
    p.add_argument("--track", choices=["update-stream", "babi"], default="update-stream")
    _common(p, "full-context,recent-window:n=8,vector,facts")
    p.add_argument("--k", type=int, default=5, help="recalled lines for ranked systems")
    p.add_argument("--keys", type=int, default=4, help="update-stream: keys per stream")
    p.add_argument("--updates", default="1,2,4,8,16", help="update-stream: updates per key")
    p.add_argument("--streams", type=int, default=1, help="update-stream: streams per level")
    p.add_argument(
        "--vocabulary",
        help="update-stream: a category -> values JSON file, or 'pi-llm' for the shared "
        "PI-LLM vocabulary (default: the small one agentmem ships)",
    )
    p.add_argument("--babi", help="babi: the bAbI en/ folder (default: ../shared/data/babi/en)")
    p.add_argument("--tasks", default="1,2,3", help="babi: task numbers")
    p.add_argument("--ks", default="0,2,4,8,16", help="babi: interfering statements")
    p.add_argument("--questions", type=int, default=20, help="babi: questions sampled")
    p.add_argument("--max-tokens", type=int, default=8, help="cap on each reply's tokens")
    p.add_argument(
        "--max-prompt-tokens",
        type=int,
        help="prompts longer than this are not sent to the model (answer level left out)",
    )
    p.set_defaults(func=_interference)


def _interference(args: argparse.Namespace) -> int:
    from agentmem.eval.babi import babi_files, load_babi
    from agentmem.eval.interference import (
        InterferenceEvaluator,
        babi_episodes,
        update_stream_episodes,
    )
    from agentmem.eval.shared_data import load_vocabulary, shared_path

    if args.track == "update-stream":
        path = args.vocabulary
        if path == "pi-llm":
            path = next(iter(sorted(shared_path("pi_llm").glob("*.json"))), None)
        episodes = update_stream_episodes(
            load_vocabulary(path),
            n_keys=args.keys,
            updates=_ints(args.updates),
            streams=args.streams,
            seed=args.seed,
        )
    else:
        folder = args.babi or shared_path("babi", "en")
        files = babi_files(folder, tuple(_ints(args.tasks)))
        stories = [story for f in files for story in load_babi(f)]
        episodes = babi_episodes(
            stories, ks=_ints(args.ks), questions=args.questions, seed=args.seed
        )
    evaluator = InterferenceEvaluator(
        embedder=_embedder(args.embedder),
        k=args.k,
        max_tokens=args.max_tokens,
        max_prompt_tokens=args.max_prompt_tokens,
    )
    report = evaluator.run(_systems(args.systems), episodes, llm=_reader(args), seed=args.seed)
    paths = report.save(Path(args.out).expanduser())
    print(report.to_markdown())
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _add_conflicts(actions: Any) -> None:
    p = actions.add_parser(
        "conflicts", help="knowledge conflicts: memory vs prior, substitution, staleness"
    )
    p.add_argument(
        "--source",
        choices=["conflictqa", "table", "substitution", "staleness"],
        default="conflictqa",
        help="table: your own JSON lines / CSV rows (--data, --columns)",
    )
    p.add_argument(
        "--columns",
        help="table: FIELD=COLUMN pairs for question, answer (the prior), counter_answer, "
        "context (the memory), id",
    )
    p.add_argument("--out", required=True, help="folder for the report (json, md, png)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--data",
        help="conflictqa JSON lines / entity QA JSON lines (defaults: "
        "../shared/data/conflictqa, the bundled entity QA items)",
    )
    p.add_argument("--limit", type=int, default=20, help="conflictqa: records sampled")
    p.add_argument(
        "--orders",
        choices=["both", "balanced"],
        default="both",
        help="conflictqa: ask each item with each answer first (both), or once with the "
        "memory's answer first for a seeded half of the items (balanced)",
    )
    p.add_argument(
        "--llm",
        choices=["local", "openai", "scripted-prior"],
        default="local",
        help="the offline local model, an OpenAI-compatible server (--base-url, --model), "
        "or a stand-in that always answers A, the first option (a dry run; it must come "
        "out at no preference, flagged position-biased)",
    )
    p.add_argument("--base-url", help="--llm openai: the server's URL")
    p.add_argument("--model", help="--llm openai: the model name")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY")
    p.add_argument(
        "--policies",
        default="none;update;update+decay:threshold=0.3",
        help="staleness: ';'-separated policy sets (agentmem.policies spec syntax)",
    )
    p.add_argument("--seeds", default="0,1,2", help="staleness: history seeds")
    p.add_argument("--sessions", type=int, default=20, help="staleness: sessions per history")
    p.add_argument("--embedder", choices=["default", "hash"], default="hash")
    p.add_argument(
        "--max-tokens", type=int, default=16, help="conflictqa / substitution: cap on replies"
    )
    p.set_defaults(func=_conflicts)


def _conflicts(args: argparse.Namespace) -> int:
    from agentmem.eval import conflicts as c
    from agentmem.eval import substitution as sub
    from agentmem.eval.shared_data import shared_path

    report: Any
    if args.source == "staleness":
        from agentmem.policies import parse_spec

        sets = {spec.strip(): parse_spec(spec.strip()) for spec in args.policies.split(";")}
        report = c.staleness(
            {name: [policy] for name, policy in sets.items()},
            embedder=_embedder(args.embedder),
            seeds=_ints(args.seeds),
            sessions=args.sessions,
        )
    else:
        llm: Any
        if args.llm in ("local", "openai"):
            llm = _reader(args)
        else:
            from agentmem.testing import ScriptedLLM

            llm = ScriptedLLM([], default="A")
        evaluator = c.ConflictEvaluator(llm, max_tokens=args.max_tokens)
        if args.source in ("conflictqa", "table"):
            if args.source == "table":
                from agentmem.eval.tabular import load_conflict_table, parse_columns

                if not args.data:
                    msg = "--source table needs --data FILE (JSON lines or CSV) and --columns"
                    raise UserError(msg)
                items = load_conflict_table(args.data, parse_columns(args.columns))
                items = c.sample(items, args.limit, seed=args.seed)
            else:
                path = args.data or next(iter(sorted(shared_path("conflictqa").glob("*.json"))))
                items = c.load_conflictqa(path, limit=args.limit, seed=args.seed)
            source = f"table:{Path(args.data).name}" if args.source == "table" else "conflictqa"
            report = evaluator.conflictqa(items, seed=args.seed, orders=args.orders, source=source)
        else:
            originals = sub.load_entity_qa(args.data)
            swapped = sub.substitute_all(originals, sub.load_entities(), seed=args.seed)
            report = evaluator.substitution(originals, swapped, seed=args.seed)
    paths = report.save(Path(args.out).expanduser())
    print(report.to_markdown())
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


_SUBCOMMANDS: list[Callable[[Any], None]] = [_add_recall, _add_interference, _add_conflicts]


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
        from agentmem.eval.tabular import parse_columns

        dataset = load(args.data, args.format, columns=parse_columns(args.columns))
    if args.limit is not None:
        dataset = dataset.model_copy(update={"conversations": dataset.conversations[: args.limit]})
    if dataset.question_count == 0:
        msg = (
            f"{dataset.name} asks no questions (MSC: no persona fact matched an earlier "
            "turn); use LoCoMo or LongMemEval data, or MSC records with 'personas'"
        )
        raise UserError(msg)
    embedder: Any
    if args.embedder == "hash":
        from agentmem.testing import HashEmbedder

        embedder = HashEmbedder(256)
    else:
        from agentmem.embedders import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder()
    llm, judge = _reader(args), _judge(args)
    seed = args.seed if args.seed is not None else (args.generate or 0)
    evaluator = Evaluator(
        embedder=embedder,
        k=args.k,
        ks=_ints(args.ks),
        out_dir=out,
        max_questions=args.max_questions,
    )
    report = evaluator.run(_systems(args.systems), dataset, llm=llm, judge=judge, seed=seed)
    paths = report.save(out)
    print(report.to_markdown())
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
