"""LangChain integration: agentmem as a LangChain vector store, retriever and chat history.

Needs ``langchain-core`` (``pip install "agentmem[langchain]"``). What is here:

- :class:`AgentMemVectorStore`: one user's memories as a LangChain ``VectorStore``.
- :class:`AgentMemRetriever`: scoped recall with filters (kinds, time range), for any chain.
- :class:`AgentMemChatMessageHistory`: chat messages kept as memories, for
  ``RunnableWithMessageHistory``.
- :func:`with_memory`: wrap a chain or chat model so it recalls before and writes after.
- :class:`AgentMemChatModel` and :class:`AgentMemEmbeddings`: agentmem's chat models
  (the offline local model, test doubles) and embedders usable inside LangChain.

The other direction (LangChain objects inside agentmem) lives beside the thing it
plugs into: :class:`agentmem.llms.LangChainLLM`, :class:`agentmem.embedders.LangChainEmbedder`
and :class:`agentmem.stores.LangChainStore`.

This module is longer than ~500 lines on purpose: LangChain's interfaces here share one
scope mapping and one text shim, and each needs its sync and async methods side by side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from agentmem._async_memory import AsyncMemory
from agentmem._errors import InvalidInputError, MissingDependencyError, NotFoundError, UserError
from agentmem._memory import Memory
from agentmem._models import Filters, Hit, Kind, MemoryItem, Scope
from agentmem._prompts import quote_memory, render_prompt
from agentmem._protocols import ChatMessage, ChatModel, Embedder
from agentmem.llms._langchain import message_text

try:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForRetrieverRun,
        CallbackManagerForLLMRun,
        CallbackManagerForRetrieverRun,
    )
    from langchain_core.chat_history import BaseChatMessageHistory
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import (
        AIMessage,
        BaseMessage,
        HumanMessage,
        SystemMessage,
    )
    from langchain_core.outputs import ChatGeneration
    from langchain_core.outputs import ChatResult as LCChatResult
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
    from langchain_core.vectorstores import VectorStore
except ImportError as exc:
    raise MissingDependencyError.for_extra(
        "langchain_core", "langchain", "the LangChain integration"
    ) from exc

__all__ = [
    "AgentMemChatMessageHistory",
    "AgentMemChatModel",
    "AgentMemEmbeddings",
    "AgentMemRetriever",
    "AgentMemVectorStore",
    "format_memories",
    "with_memory",
]

logger = logging.getLogger(__name__)

_ROLE_OF_TYPE: dict[str, Literal["system", "user", "assistant"]] = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
}


# -- conversions ---------------------------------------------------------------------------
def _to_message(item: MemoryItem) -> BaseMessage:
    role = str(item.metadata.get("role", "user"))
    if role == "assistant":
        return AIMessage(content=item.text, id=item.id)
    if role == "system":
        return SystemMessage(content=item.text, id=item.id)
    return HumanMessage(content=item.text, id=item.id)


def _to_chat_messages(messages: Sequence[BaseMessage]) -> list[ChatMessage]:
    out: list[ChatMessage] = []
    for message in messages:
        role = _ROLE_OF_TYPE.get(message.type, "user")
        out.append(ChatMessage(role=role, content=message_text(message)))
    return out


def format_memories(hits: Sequence[Hit]) -> str:
    """Recalled memories as dated, quoted lines, oldest first (``""`` when there are none)."""
    lines = []
    for hit in sorted(hits, key=lambda h: h.item.created_at):
        quoted = quote_memory(hit.item.text)
        lines.append(f"- [{hit.item.created_at:%Y-%m-%d}] ({hit.item.kind.value}) {quoted}")
    return "\n".join(lines)


# -- agentmem parts usable inside LangChain ------------------------------------------------
class AgentMemEmbeddings(Embeddings):
    """Any agentmem :class:`~agentmem.Embedder` as a LangChain ``Embeddings``.

    Args:
        embedder: the agentmem embedder (the bundled model, ``HashEmbedder`` in tests, ...).
    """

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents."""
        if not texts:
            return []
        return [[float(x) for x in row] for row in self.embedder.embed(texts)]

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return self.embed_documents([text])[0]


class AgentMemChatModel(BaseChatModel):
    """Any agentmem :class:`~agentmem.ChatModel` as a LangChain chat model.

    This puts the offline local model (``agentmem.llms.LocalLLM``) or a test double
    (``agentmem.testing.ScriptedLLM``) into any LangChain chain.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llm: Any = Field(description="the agentmem ChatModel that answers")
    max_tokens: int | None = None

    @property
    def _llm_type(self) -> str:
        return "agentmem"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LCChatResult:
        llm: ChatModel = self.llm
        result = llm.chat(_to_chat_messages(messages), max_tokens=self.max_tokens)
        text = result.text
        for marker in stop or ():
            text = text.split(marker, 1)[0]
        message = AIMessage(
            content=text,
            usage_metadata={
                "input_tokens": result.prompt_tokens,
                "output_tokens": result.completion_tokens,
                "total_tokens": result.prompt_tokens + result.completion_tokens,
            },
            response_metadata={"model_name": result.model},
        )
        return LCChatResult(generations=[ChatGeneration(message=message)])


# -- agentmem as a LangChain vector store --------------------------------------------------
class AgentMemVectorStore(VectorStore):
    """One user's memories as a LangChain ``VectorStore``.

    A document is a memory: ``page_content`` is its text, ``metadata`` its metadata
    (round-tripped exactly) and ``id`` its id. Adding a document whose id exists updates
    that memory. Searches only ever see this user's memories (narrowed to ``agent_id`` /
    ``session_id`` when given).

    Args:
        memory: the agentmem :class:`~agentmem.Memory` to read and write.
        user_id: whose memories these are.
        agent_id: narrow to one agent (also stamped on new memories).
        session_id: narrow to one session (also stamped on new memories).
        kind: the kind new memories get.
        store: the name of the store new memories go to (default: the first).
        record_access: count searches as recalls (bumps ``access_count``, lets retention
            policies strengthen what is used).
    """

    def __init__(
        self,
        memory: Memory,
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        kind: Kind | str = Kind.FACT,
        store: str | None = None,
        record_access: bool = False,
    ) -> None:
        self.memory = memory
        self.scope = _scope(user_id, agent_id, session_id)
        self.kind = Kind(kind)
        self.store = store
        self.record_access = record_access

    @property
    def embeddings(self) -> Embeddings | None:
        """The memory's embedder, as LangChain ``Embeddings``."""
        embedder = self.memory.embedder
        return None if embedder is None else AgentMemEmbeddings(embedder)

    def _owned(self, item_id: str) -> MemoryItem | None:
        try:
            item = self.memory.get(item_id)
        except NotFoundError:
            return None
        if item.scope.user_id != self.scope.user_id:
            msg = (
                f"the id {item_id!r} belongs to a memory of another user; "
                "give the document a different id (or none, to have one made)"
            )
            raise UserError(msg)
        return item

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Store texts as memories (an existing id is updated); return their ids."""
        texts_ = list(texts)
        if metadatas is not None and len(metadatas) != len(texts_):
            msg = f"got {len(metadatas)} metadatas for {len(texts_)} texts; give one per text"
            raise InvalidInputError(msg)
        if ids is not None and len(ids) != len(texts_):
            msg = f"got {len(ids)} ids for {len(texts_)} texts; give one per text (or None)"
            raise InvalidInputError(msg)
        new: dict[str, MemoryItem] = {}
        out: list[str] = []
        for i, text in enumerate(texts_):
            metadata = dict(metadatas[i]) if metadatas is not None else {}
            item_id = ids[i] if ids is not None else None
            if item_id and item_id not in new and self._owned(item_id) is not None:
                self.memory.update(
                    item_id, text=text, metadata=metadata, reason="replaced through LangChain"
                )
                out.append(item_id)
                continue
            item = self.memory.make_item(
                text,
                user_id=self.scope.user_id,
                agent_id=self.scope.agent_id,
                session_id=self.scope.session_id,
                kind=self.kind,
                metadata=metadata,
            )
            if item_id:
                item = MemoryItem.model_validate({**item.model_dump(), "id": item_id})
            new[item.id] = item  # a repeated id within one call: the last one wins
            out.append(item.id)
        if new:
            self.memory.write(list(new.values()), store=self.store)
        return out

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Forget the memories with these ids; ``None`` forgets every memory in scope."""
        if ids is None:
            ids = [item.id for item in self._scan()]
        self.memory.forget(
            user_id=self.scope.user_id, ids=list(ids), reason="deleted via LangChain"
        )
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The documents with these ids that are in scope (unknown ids are skipped)."""
        out: list[Document] = []
        for item_id in ids:
            try:
                item = self.memory.get(item_id)
            except NotFoundError:
                continue
            if self.scope.contains(item.scope):
                out.append(_document(item))
        return out

    def _scan(self) -> Iterable[MemoryItem]:
        for store in self.memory.stores:
            yield from store.scan(scope=self.scope)

    def similarity_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: Filters | Mapping[str, Any] | None = None,  # noqa: A002 - LangChain's name
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """The ``k`` memories most similar to ``query``, with their scores, best first.

        ``filter`` is an agentmem :class:`~agentmem.Filters` (or a dict of its fields),
        e.g. ``{"kinds": ["fact"], "metadata": {"topic": "tea"}}``.
        """
        hits = self.memory.search(
            query,
            user_id=self.scope.user_id,
            agent_id=self.scope.agent_id,
            session_id=self.scope.session_id,
            k=k,
            filters=filter,
            as_of=kwargs.get("as_of"),
            record_access=self.record_access,
        )
        return [(_document(hit.item), hit.score) for hit in hits]

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """The ``k`` memories most similar to ``query``, best first."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, **kwargs)]

    # Async paths: the same work in the memory's AsyncMemory pool, never on the loop.
    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Async :meth:`add_texts`, run off the event loop."""
        listed = list(texts)
        return await _async(self.memory).run(
            lambda _m: self.add_texts(listed, metadatas, ids=ids, **kwargs)
        )

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Async :meth:`delete`, run off the event loop."""
        return await _async(self.memory).run(lambda _m: self.delete(ids, **kwargs))

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Async :meth:`get_by_ids`, run off the event loop."""
        return await _async(self.memory).run(lambda _m: self.get_by_ids(ids))

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Async :meth:`similarity_search_with_score`, run off the event loop."""
        return await _async(self.memory).run(
            lambda _m: self.similarity_search_with_score(query, k, **kwargs)
        )

    async def asimilarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """Async :meth:`similarity_search`, run off the event loop."""
        found = await self.asimilarity_search_with_score(query, k, **kwargs)
        return [doc for doc, _ in found]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        # Dense scores are cosine similarities; clip them into [0, 1].
        return lambda score: max(0.0, min(1.0, score))

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> AgentMemVectorStore:
        """A new in-memory agentmem store for ``user_id`` (required keyword) holding ``texts``.

        Pass ``memory=`` to add to an existing :class:`~agentmem.Memory` instead.
        """
        user_id = kwargs.pop("user_id", None)
        if not isinstance(user_id, str):
            msg = "AgentMemVectorStore.from_texts needs user_id=..., whose memories these are"
            raise UserError(msg)
        memory = kwargs.pop("memory", None)
        if memory is None:
            from agentmem.embedders import LangChainEmbedder
            from agentmem.stores import VectorStore as AgentMemIndex

            embedder = LangChainEmbedder(embedding)
            memory = Memory([AgentMemIndex(None, embedder)], policies=[], embedder=embedder)
        store = cls(memory, user_id=user_id, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store


def _document(item: MemoryItem) -> Document:
    return Document(id=item.id, page_content=item.text, metadata=dict(item.metadata))


def _scope(user_id: str, agent_id: str | None, session_id: str | None) -> Scope:
    try:
        return Scope(user_id=user_id, agent_id=agent_id, session_id=session_id)
    except ValueError as exc:
        msg = f"invalid scope: {exc}"
        raise InvalidInputError(msg) from exc


# -- retriever -----------------------------------------------------------------------------
class AgentMemRetriever(BaseRetriever):
    """Scoped recall from an agentmem :class:`~agentmem.Memory`, usable in any chain.

    Each document is a recalled memory; its metadata is the memory's metadata plus an
    ``"agentmem"`` entry with ``id``, ``kind``, ``created_at`` (ISO 8601), ``score`` and
    ``store``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: Memory
    user_id: str
    agent_id: str | None = None
    session_id: str | None = None
    k: int = 4
    kinds: tuple[Kind, ...] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    metadata_filter: dict[str, Any] = Field(default_factory=dict)
    as_of: datetime | None = None
    record_access: bool = True

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        filters = Filters(
            kinds=self.kinds,
            created_after=self.created_after,
            created_before=self.created_before,
            metadata=self.metadata_filter,
        )
        hits = self.memory.search(
            query,
            user_id=self.user_id,
            agent_id=self.agent_id,
            session_id=self.session_id,
            k=self.k,
            filters=filters,
            as_of=self.as_of,
            record_access=self.record_access,
        )
        return [
            Document(
                id=hit.item.id,
                page_content=hit.item.text,
                metadata={
                    **hit.item.metadata,
                    "agentmem": {
                        "id": hit.item.id,
                        "kind": hit.item.kind.value,
                        "created_at": hit.item.created_at.isoformat(),
                        "score": hit.score,
                        "store": hit.store,
                    },
                },
            )
            for hit in hits
        ]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        sync_manager = run_manager.get_sync()
        return await _async(self.memory).run(
            lambda _m: self._get_relevant_documents(query, run_manager=sync_manager)
        )


# -- chat history --------------------------------------------------------------------------
class AgentMemChatMessageHistory(BaseChatMessageHistory):
    """A chat session's messages kept as agentmem memories (kind ``message``).

    Messages are written like the agent's own turns (``metadata["role"]`` is ``user``,
    ``assistant`` or ``system``), so they are searchable long-term memory as well as the
    session's history. Give it to ``RunnableWithMessageHistory``.

    Args:
        memory: where the messages are stored.
        user_id: whose conversation it is.
        session_id: the session (one history per session).
        agent_id: optionally, the agent taking part.
    """

    def __init__(
        self,
        memory: Memory,
        *,
        user_id: str,
        session_id: str,
        agent_id: str | None = None,
    ) -> None:
        self.memory = memory
        self.scope = _scope(user_id, agent_id, session_id)

    def _items(self) -> list[MemoryItem]:
        filters = Filters(kinds=(Kind.MESSAGE,))
        items: list[MemoryItem] = []
        for store in self.memory.stores:
            items += store.scan(scope=self.scope, filters=filters, include_closed=False)
        # Stable sort: messages stamped with the same time keep their insertion order.
        return sorted(items, key=lambda item: item.created_at)

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The session's messages, oldest first."""
        return [_to_message(item) for item in self._items()]

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Store messages as memories, in one write."""
        items = [
            self.memory.make_item(
                message_text(message),
                user_id=self.scope.user_id,
                agent_id=self.scope.agent_id,
                session_id=self.scope.session_id,
                kind=Kind.MESSAGE,
                metadata={"role": _ROLE_OF_TYPE.get(message.type, message.type)},
            )
            for message in messages
            if message_text(message).strip()
        ]
        self.memory.write(items)

    async def aget_messages(self) -> list[BaseMessage]:
        """The session's messages, oldest first, read off the event loop."""
        return await _async(self.memory).run(lambda _m: self.messages)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`add_messages`, run off the event loop."""
        listed = list(messages)
        await _async(self.memory).run(lambda _m: self.add_messages(listed))

    async def aclear(self) -> None:
        """Async :meth:`clear`, run off the event loop."""
        await _async(self.memory).run(lambda _m: self.clear())

    def clear(self) -> None:
        """Forget this session's messages for good."""
        ids = [item.id for item in self._items()]
        if ids:
            self.memory.forget(user_id=self.scope.user_id, ids=ids, reason="history cleared")


# -- with_memory ---------------------------------------------------------------------------
def with_memory(
    runnable: Runnable[Any, Any],
    memory: Memory,
    *,
    user_id: str,
    session_id: str | None = None,
    agent_id: str | None = None,
    k: int = 4,
    input_key: str = "input",
    memories_key: str = "memories",
    write: bool = True,
) -> Runnable[Any, Any]:
    """Wrap a chain or chat model so it recalls before and writes after each call.

    Before: the user's message is searched in memory (scoped to the user). A chain that
    takes a dict gets the recalled memories as text under ``memories_key`` (its prompt
    should have a ``{memories}`` slot); a chat model (a string or messages in) gets them
    as a leading system message. After: the user's message and the reply are stored as
    memories (unless ``write=False``, e.g. when a chat history already stores them).

    ``user_id`` and ``session_id`` may be overridden per call through
    ``config={"configurable": {"user_id": ..., "session_id": ...}}``.

    Args:
        runnable: the chain or chat model to wrap.
        memory: the memory to recall from and write to.
        user_id: whose memory.
        session_id: the session new memories belong to.
        agent_id: the agent new memories belong to.
        k: how many memories to recall.
        input_key: where a dict input holds the user's message.
        memories_key: where a dict input receives the recalled memories.
        write: store the user's message and the reply after the call.

    Returns:
        A Runnable with the same input and output as ``runnable``.
    """

    def scope_of(config: RunnableConfig | None) -> Scope:
        configurable = (config or {}).get("configurable", {})
        return _scope(
            configurable.get("user_id", user_id),
            configurable.get("agent_id", agent_id),
            configurable.get("session_id", session_id),
        )

    def before(value: Any, scope: Scope) -> tuple[Any, str]:
        query = _query_of(value, input_key)
        hits = (
            memory.search(query, user_id=scope.user_id, agent_id=scope.agent_id, k=k)
            if query.strip()
            else []
        )
        recalled = format_memories(hits)
        if isinstance(value, Mapping):
            return {**value, memories_key: recalled or "(nothing recalled)"}, query
        if not hits:
            return value, query
        system = SystemMessage(content=render_prompt("langchain_memories", memories=recalled))
        if isinstance(value, str):
            return [system, HumanMessage(content=value)], query
        if isinstance(value, BaseMessage):
            return [system, value], query
        return [system, *value], query

    def after(query: str, output: Any, scope: Scope) -> None:
        if not write or not query.strip():
            return
        texts = [(query, "user"), (_output_text(output), "assistant")]
        items = [
            memory.make_item(
                text,
                user_id=scope.user_id,
                agent_id=scope.agent_id,
                session_id=scope.session_id,
                kind=Kind.MESSAGE,
                metadata={"role": role},
            )
            for text, role in texts
            if text.strip()
        ]
        memory.write(items)

    def invoke(value: Any, config: RunnableConfig) -> Any:
        scope = scope_of(config)
        prepared, query = before(value, scope)
        output = runnable.invoke(prepared, config)
        after(query, output, scope)
        return output

    async def ainvoke(value: Any, config: RunnableConfig) -> Any:
        scope = scope_of(config)
        amemory = _async(memory)
        prepared, query = await amemory.run(lambda _m: before(value, scope))
        output = await runnable.ainvoke(prepared, config)
        await amemory.run(lambda _m: after(query, output, scope))
        return output

    return RunnableLambda(invoke, afunc=ainvoke, name="with_memory")


def _async(memory: Memory) -> AsyncMemory:
    """The memory's shared AsyncMemory: a bounded pool and the memory's change lock."""
    return AsyncMemory.shared(memory)


def _query_of(value: Any, input_key: str) -> str:
    if isinstance(value, Mapping):
        if input_key not in value:
            msg = (
                f"with_memory: the input has no {input_key!r} key (keys: {sorted(value)}); "
                "pass input_key= naming the key that holds the user's message"
            )
            raise UserError(msg)
        value = value[input_key]
    if isinstance(value, str):
        return value
    if isinstance(value, BaseMessage):
        return message_text(value)
    if isinstance(value, Sequence):
        for message in reversed(value):
            if isinstance(message, BaseMessage) and message.type == "human":
                return message_text(message)
            if isinstance(message, tuple) and message and message[0] in {"human", "user"}:
                return str(message[1])
        return ""
    msg = (
        f"with_memory cannot find the user's message in a {type(value).__name__}; "
        "give a string, messages, or a dict with the message under input_key"
    )
    raise UserError(msg)


def _output_text(output: Any) -> str:
    if isinstance(output, BaseMessage):
        return message_text(output)
    if isinstance(output, str):
        return output
    if isinstance(output, Mapping):
        for key in ("output", "answer", "text", "content"):
            if isinstance(output.get(key), str):
                return str(output[key])
    return ""
