import pytest

from agentmem.eval import Evaluator, generate, load_locomo


@pytest.mark.real_models
def test_real_embedder_recalls_evidence_on_a_generated_conversation(tmp_path) -> None:
    from agentmem.embedders import SentenceTransformerEmbedder

    path = generate.write_locomo(tmp_path / "c.json", [generate.conversation(5, sessions=8)])
    report = Evaluator(embedder=SentenceTransformerEmbedder(), progress=False).run(
        ["vector", "recent-window:n=5"], load_locomo(path)
    )
    vector = report.summary["vector"]["all"]
    assert vector.recall["recall@10"] >= 0.5
    assert (
        vector.recall["recall@10"] > report.summary["recent-window:n=5"]["all"].recall["recall@10"]
    )
    assert vector.prompt_tokens < vector.full_context_tokens
