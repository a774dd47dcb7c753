"""Evaluate on your own data: a CSV of questions, MSC persona probes, a judge, conflicts.

Run: python examples/eval_own_data.py [OUT_DIR]

Everything here runs offline with stand-in models; swap in a real reader and judge with
``OpenAICompatibleLLM("http://localhost:8080/v1", "my-model")``.
"""

import csv
import sys
from pathlib import Path

from agentmem.eval import (
    ConflictEvaluator,
    Evaluator,
    load_conflict_table,
    load_msc,
    load_recall_table,
)
from agentmem.testing import FunctionLLM, HashEmbedder

out = Path(sys.argv[1] if len(sys.argv) > 1 else "eval-own-out")
out.mkdir(parents=True, exist_ok=True)

# 1. Questions about conversations, in a CSV with your own column names.
chat = "Ann: I moved to Porto last spring.\nBen: I still live in Leeds.\nAnn: Eva visits in June."
rows = [
    {"q": "Where does Ann live?", "gold": "Porto", "dialogue": chat, "support": "1"},
    {"q": "Who visits Ann in June?", "gold": "Eva", "dialogue": chat, "support": "Eva visits"},
    {"q": "What is Ben's job?", "gold": "", "dialogue": chat, "support": ""},  # unanswerable
]
with (out / "mine.csv").open("w", newline="") as handle:
    writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
columns = {"question": "q", "answer": "gold", "context": "dialogue", "evidence": "support"}
dataset = load_recall_table(out / "mine.csv", columns)


def reader(messages):  # a stand-in reader: the last recalled line, or "not mentioned"
    context = messages[-1].content.split("<conversation>")[1].split("</conversation>")[0]
    lines = [line for line in context.strip().splitlines() if ": " in line]
    return lines[0].split(": ", 1)[1] if lines else "not mentioned"


def judge(messages):  # a stand-in judge: does the reply contain the reference?
    prompt = messages[-1].content
    gold = prompt.split("Correct answer: ")[1].split("\n")[0].lower()
    said = prompt.split("Answer to grade: ")[1].split("\n")[0].lower()
    return "CORRECT" if gold in said else "WRONG"


evaluator = Evaluator(embedder=HashEmbedder(256), out_dir=out / "recall", progress=False)
report = evaluator.run(
    ["bm25", "vector", "no-memory"], dataset, llm=FunctionLLM(reader), judge=FunctionLLM(judge)
)
report.save(out / "recall")
print(report.to_markdown())

# 2. Multi-Session Chat: persona facts from earlier sessions become recall probes.
msc = Path(__file__).resolve().parent.parent / "tests/eval/fixtures/msc_dialogue_session3.jsonl"
if msc.exists():
    probes = load_msc(msc)
    for question in probes.conversations[0].questions:
        print(question.category, "|", question.answer, "| evidence", question.evidence)
    msc_report = evaluator.run(["bm25", "vector", "recent-window"], probes)
    msc_report.save(out / "msc")

# 3. Knowledge conflicts from your own rows; a model that always answers "A" must come out
#    at no preference and be flagged position-biased.
with (out / "conflicts.csv").open("w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["q", "truth", "other", "passage"])
    for n in range(12):
        writer.writerow([f"Is bridge {n} in Lisbon?", "Yes", "No", f"Bridge {n} was moved."])
items = load_conflict_table(
    out / "conflicts.csv",
    {"question": "q", "answer": "truth", "counter_answer": "other", "context": "passage"},
)
always_a = FunctionLLM(lambda messages: "A")
conflicts = ConflictEvaluator(always_a, progress=False).conflictqa(items, source="mine.csv")
conflicts.save(out / "conflicts")
print(conflicts.to_markdown())
