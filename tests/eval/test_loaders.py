import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agentmem import InvalidInputError
from agentmem.eval import DatasetError, load, load_locomo, load_longmemeval, load_msc
from agentmem.eval.loaders import parse_locomo_date

FIXTURES = Path(__file__).parent / "fixtures"


def test_locomo_sessions_turns_and_dates() -> None:
    data = load_locomo(FIXTURES / "locomo.json")
    (convo,) = data.conversations
    assert convo.id == "conv-1"
    assert [s.id for s in convo.sessions] == ["session_1", "session_2"]
    assert convo.sessions[0].date == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    assert convo.sessions[1].date == datetime(2023, 6, 27, 10, 37, tzinfo=UTC)
    assert [t.id for _, t in convo.turns()] == ["D1:1", "D1:2", "D1:3", "D2:1", "D2:2"]
    assert "a painting of a sunrise" in convo.sessions[0].turns[1].text


def test_locomo_questions_categories_evidence_and_adversarial() -> None:
    questions = load_locomo(FIXTURES / "locomo.json").conversations[0].questions
    assert [q.category for q in questions] == [
        "single-hop",
        "temporal",
        "multi-hop",
        "open-domain",
        "adversarial",
    ]
    assert questions[2].evidence == ["D1:2", "D2:1"]  # "D1:2; D2:1" split
    assert questions[3].answer == "1"
    assert questions[3].evidence == ["D1:3"]  # the unknown D99:1 is dropped
    adversarial = questions[4]
    assert adversarial.abstain and adversarial.answer is None
    assert adversarial.evidence == ["D1:2"]


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("locomo_bad_date.json", "session_1_date_time: 'sometime in spring' is not a date"),
        ("locomo_bad_category.json", "qa 0: category 7 is not one of 1-5"),
        ("locomo_missing_text.json", "missing field 'text' in session_1 turn 0"),
    ],
)
def test_locomo_malformed_records_name_the_problem(name: str, fragment: str) -> None:
    with pytest.raises(DatasetError) as info:
        load_locomo(FIXTURES / name)
    assert fragment in str(info.value)
    assert "conv-9" in str(info.value)
    assert isinstance(info.value, InvalidInputError)


def test_locomo_answer_missing_outside_category_5(tmp_path: Path) -> None:
    records = json.loads((FIXTURES / "locomo.json").read_text())
    del records[0]["qa"][0]["answer"]
    path = tmp_path / "x.json"
    path.write_text(json.dumps(records))
    with pytest.raises(DatasetError, match="missing field 'answer' in qa 0"):
        load_locomo(path)


def test_not_json_not_a_list_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("[{")
    with pytest.raises(DatasetError, match="not valid JSON"):
        load_locomo(tmp_path / "broken.json")
    (tmp_path / "dict.json").write_text("{}")
    with pytest.raises(DatasetError, match="must hold a JSON list"):
        load_longmemeval(tmp_path / "dict.json")
    with pytest.raises(DatasetError, match="no dataset file"):
        load_locomo(tmp_path / "absent.json")
    with pytest.raises(DatasetError, match="unknown dataset format"):
        load(tmp_path / "dict.json", "squad")


def test_parse_locomo_date_variants() -> None:
    assert parse_locomo_date("9:05 am on 1 Jan, 2024") == datetime(2024, 1, 1, 9, 5, tzinfo=UTC)
    assert parse_locomo_date("12:30 pm on 3 Sept 2023".replace("Sept", "Sep")).month == 9
    with pytest.raises(ValueError, match="not a date"):
        parse_locomo_date("yesterday")


def test_longmemeval_items_become_conversations() -> None:
    data = load_longmemeval(FIXTURES / "longmemeval.json")
    first, second = data.conversations
    assert [s.id for s in first.sessions] == ["s_a", "s_b"]  # sorted by date
    (q,) = first.questions
    assert q.category == "knowledge-update" and q.answer == "Porto" and not q.abstain
    assert q.evidence == ["s_b:0", "s_a:0"]
    assert q.evidence_sessions == ["s_b"]
    assert q.date == datetime(2023, 6, 1, 10, 0, tzinfo=UTC)
    (abstain,) = second.questions
    assert abstain.abstain and abstain.answer is None and abstain.evidence == []


def test_longmemeval_malformed(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"record 0 \(question_id q1\).*same length"):
        load_longmemeval(FIXTURES / "longmemeval_mismatch.json")
    records = json.loads((FIXTURES / "longmemeval.json").read_text())
    records[1]["question_date"] = "June 2nd"
    path = tmp_path / "lme.json"
    path.write_text(json.dumps(records))
    with pytest.raises(DatasetError, match="question_date 'June 2nd' is not a date"):
        load_longmemeval(path)


def test_msc_sessions_and_dates() -> None:
    data = load_msc(FIXTURES / "msc.jsonl")
    first, second = data.conversations
    assert first.id == "msc-a" and second.id == "msc-2"
    assert [s.date for s in first.sessions] == [
        datetime(2023, 1, 1, 12, tzinfo=UTC),
        datetime(2023, 1, 8, 12, tzinfo=UTC),
        datetime(2023, 1, 8, 15, tzinfo=UTC),
    ]
    assert [t.speaker for t in first.sessions[0].turns] == ["Speaker 1", "Speaker 2"]
    assert first.sessions[-1].turns[1].text == "Still lazy!"
    # each speaker's persona fact becomes a probe; the second record has none
    assert [q.evidence for q in first.questions] == [["S1:0"], ["S1:1"]]
    assert second.questions == []
    assert load_msc(FIXTURES / "msc.jsonl", threshold=None).question_count == 0


def test_msc_persona_probes_from_dialogue_records() -> None:
    (convo,) = load_msc(FIXTURES / "msc_dialogue_session3.jsonl").conversations
    assert convo.id == "train:ordered_7" and [s.id for s in convo.sessions] == ["S1", "S2", "S3"]
    probes = {q.answer: q for q in convo.questions}
    # evidence: the speaker's own earlier turns that state the fact (not the other
    # speaker's "Night shifts sound hard", not the current session)
    assert {a: q.evidence for a, q in probes.items()} == {
        "I have two beagles.": ["S1:0", "S2:2"],
        "I teach math at a middle school.": ["S1:2"],
        "I am a nurse who works night shifts.": ["S1:1"],
        "I grow tomatoes in my garden.": ["S1:3"],
        "I am learning to play the cello.": ["S2:1"],
    }
    # "I like to go skydiving." is stated nowhere: dropped, not guessed
    assert "I like to go skydiving." not in probes
    cello = probes["I am learning to play the cello."]
    assert cello.category == "persona from S2" and "Speaker 2" in cello.question
    turns = {t.id: t for _, t in convo.turns()}
    assert all(
        turns[e].speaker == "Speaker 2" for e in probes["I grow tomatoes in my garden."].evidence
    )


def test_msc_persona_summary_records_name_their_evidence() -> None:
    (convo,) = load_msc(FIXTURES / "msc_personasummary_session1.jsonl").conversations
    assert convo.id == "valid:ordered_3" and len(convo.sessions) == 1
    assert [(q.answer, q.evidence) for q in convo.questions] == [
        ("I work in an office near a park.", ["S1:0"]),
        ("I ride my bike home from work.", ["S1:2"]),
        ("I had knee surgery last month.", ["S1:3"]),
    ]
    assert [t.speaker for t in convo.sessions[0].turns][:2] == ["Speaker 1", "Speaker 2"]


def test_match_turns_threshold() -> None:
    from agentmem.eval.personas import content_words, match_turns

    assert content_words("I'm walking my beagles!") == {"walk", "beagle"}
    turns = [("a", "My husband has a blue car."), ("b", "Blue skies today."), ("c", "Hi")]
    assert match_turns("My husbands car is blue.", turns) == ["a"]
    # three content words: two must match, whatever the threshold
    assert match_turns("My husbands car is blue.", turns, threshold=0.3) == ["a"]
    assert match_turns("Blue is my color.", turns) == ["a", "b"]  # {blue, color}: one is half
    assert match_turns("I am.", turns) == []


def test_msc_malformed(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="line 1: S1: time '2 fortnight'"):
        load_msc(FIXTURES / "msc_bad_unit.jsonl")
    (tmp_path / "m.jsonl").write_text('{"personas": []}\nnot json\n')
    with pytest.raises(DatasetError, match="line 1: missing field 'metadata'"):
        load_msc(tmp_path / "m.jsonl")
    (tmp_path / "n.jsonl").write_text("not json\n")
    with pytest.raises(DatasetError, match="line 1 is not valid JSON"):
        load_msc(tmp_path / "n.jsonl")
