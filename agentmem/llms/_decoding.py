"""Decoding rules for the transformers backend of LocalLLM that look at the reply only.

transformers' own ``repetition_penalty`` and ``no_repeat_ngram_size`` also count the
prompt, so they would stop a small model from copying a remembered fact out of it. These
count only the tokens generated so far. Imported only when the model generates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch
from transformers import LogitsProcessor, StoppingCriteria, TextStreamer

__all__ = ["NoRepeatInReply", "PenaliseReplyTokens", "ReplyStop", "TextStream"]


class PenaliseReplyTokens(LogitsProcessor):
    """Divide positive scores (multiply negative ones) of tokens the reply already used."""

    def __init__(self, prompt_length: int, penalty: float) -> None:
        self.prompt_length = prompt_length
        self.penalty = penalty

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        reply = input_ids[:, self.prompt_length :]
        if reply.shape[1] == 0:
            return scores
        picked = torch.gather(scores, 1, reply)
        picked = torch.where(picked > 0, picked / self.penalty, picked * self.penalty)
        return cast("torch.FloatTensor", scores.scatter(1, reply, picked))


class NoRepeatInReply(LogitsProcessor):
    """Forbid any token n-gram from occurring twice in the reply."""

    def __init__(self, prompt_length: int, n: int) -> None:
        self.prompt_length = prompt_length
        self.n = n

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        n = self.n
        for row in range(input_ids.shape[0]):
            reply = input_ids[row, self.prompt_length :].tolist()
            if len(reply) < n:
                continue
            prefix = tuple(reply[len(reply) - n + 1 :])
            banned = [
                reply[i + n - 1]
                for i in range(len(reply) - n + 1)
                if tuple(reply[i : i + n - 1]) == prefix
            ]
            if banned:
                scores[row, banned] = -float("inf")
        return scores


class ReplyStop(StoppingCriteria):
    """Stop at the end of an answer: enough sentences, or a blank line after some text."""

    def __init__(
        self,
        tokenizer: Any,
        prompt_length: int,
        max_sentences: int | None,
        blank_line: bool,
        enough: Callable[[str, int | None], bool],
    ) -> None:
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length
        self.max_sentences = max_sentences
        self.blank_line = blank_line
        self.enough = enough
        self.stopped = False

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any
    ) -> bool:
        text = self.tokenizer.decode(input_ids[0, self.prompt_length :], skip_special_tokens=True)
        done = self.enough(text, self.max_sentences) or (self.blank_line and "\n\n" in text.strip())
        self.stopped = self.stopped or done
        return done


class TextStream(TextStreamer):
    """Hands each finished piece of the reply (whole words) to a callback."""

    def __init__(self, tokenizer: Any, on_text: Callable[[str], None]) -> None:
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.on_text = on_text
        self.started = False

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        """Pass the text on, without the reply's leading whitespace."""
        if not self.started:
            text = text.lstrip()
            self.started = bool(text)
        if text:
            self.on_text(text)
