"""Testing helpers that ship with agentmem: test doubles and contract suites.

Test doubles, to test code built on agentmem without loading a model::

    from agentmem.testing import ScriptedLLM, HashEmbedder
    llm = ScriptedLLM(["Hello!", "Lisbon."])
    memory = Memory.in_memory(embedder=HashEmbedder(64))

Contract suites (need ``pytest``: ``pip install agentmem[testing]``), to check your own
store, policy, embedder or chat model the way agentmem checks its own, as langchain-tests
does for LangChain integrations: subclass the suite in a test module and give it one
fixture (see ``docs/extending.md``).

- :mod:`agentmem.testing.stores`: ``MemoryStoreContract`` (fixture ``store_factory``);
- :mod:`agentmem.testing.policies`: ``RetentionPolicyContract`` (fixture ``policy``);
- :mod:`agentmem.testing.embedders`: ``EmbedderContract`` (fixture ``embedder``);
- :mod:`agentmem.testing.chat`: ``ChatModelContract`` (fixture ``chat_model``).

The suites are imported from their modules (they import pytest); this package does not
import them, so ``import agentmem.testing`` needs no pytest.
"""

from agentmem.testing._doubles import (
    FunctionLLM,
    HashEmbedder,
    ScriptedLLM,
    set_model_loads_allowed,
)

__all__ = ["FunctionLLM", "HashEmbedder", "ScriptedLLM", "set_model_loads_allowed"]
