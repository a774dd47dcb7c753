"""Decoding rules of the local model, the language detector and plot styles: no model."""

from __future__ import annotations

import torch

from agentmem._language import detect_language, same_language
from agentmem.llms._decoding import NoRepeatInReply, PenaliseReplyTokens
from agentmem.llms._local import REPLIES, LocalLLM, _enough_sentences, _finish
from agentmem.simulate import line_styles


def test_no_repeat_looks_at_the_reply_only() -> None:
    # prompt: 1 2 3 | reply: 1 2 -> copying "1 2 3" from the prompt stays allowed
    ids = torch.tensor([[1, 2, 3, 1, 2]])
    scores = torch.zeros(1, 6)
    out = NoRepeatInReply(prompt_length=3, n=3)(ids, scores.clone())
    assert torch.isfinite(out).all()
    # reply: 1 2 3 1 2 -> the 3-gram "1 2 3" would repeat inside the reply: banned
    ids = torch.tensor([[9, 1, 2, 3, 1, 2]])
    out = NoRepeatInReply(prompt_length=1, n=3)(ids, torch.zeros(1, 6))
    assert out[0, 3] == -float("inf") and torch.isfinite(out[0, [0, 1, 2, 4, 5]]).all()


def test_penalty_spares_prompt_tokens() -> None:
    ids = torch.tensor([[4, 5, 1]])  # prompt 4 5, reply 1
    scores = torch.tensor([[0.0, 2.0, 2.0, 0.0, 2.0, 2.0]])
    out = PenaliseReplyTokens(prompt_length=2, penalty=2.0)(ids, scores.clone())
    assert out[0, 1] == 1.0  # used in the reply: halved
    assert out[0, 4] == 2.0 and out[0, 5] == 2.0  # only in the prompt: untouched


def test_sentence_stop_and_cut_replies() -> None:
    assert _enough_sentences("Your dog is Max. He is cute.", 2)
    assert not _enough_sentences("Your dog is Max. He is", 2)
    assert not _enough_sentences("It costs 3.5 euros", 1)
    assert _finish("Hello there.\n\nSure! Here is a list", cut=False, blank_line=True) == (
        "Hello there.",
        "",
    )
    assert _finish("I think that the", cut=True) == ("I think that the…", "…")
    assert _finish("Done.", cut=True) == ("Done.", "")


def test_for_replies_copies_settings_and_shares_the_model() -> None:
    llm = LocalLLM("model.gguf", max_tokens=40, threads=2)
    replies = llm.for_replies()
    assert replies.decoding == REPLIES and replies.max_tokens == 40 and replies.threads == 2
    assert replies.path == llm.path and llm.decoding.no_repeat_ngram == 0


def test_language_detector() -> None:
    assert detect_language("Onde é que eu moro?") == "pt"
    assert detect_language("¿Cómo se llama mi perro?") == "es"
    assert detect_language("What is my dog's name?") == "en"
    assert detect_language("Max.") is None
    assert detect_language("こんにちは、元気ですか") == "other"
    assert same_language("Max.", "pt") and not same_language("Your dog is called Max.", "pt")
    assert not same_language("Привет, как дела?", "en")


def test_plot_lines_all_differ() -> None:
    styles = line_styles(5)
    keys = {(s["marker"], s["linestyle"], s["linewidth"]) for s in styles}
    assert len(keys) == 5
    assert styles[0]["linewidth"] > styles[-1]["linewidth"]  # later lines drawn thinner, on top
