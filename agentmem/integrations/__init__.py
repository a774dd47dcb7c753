"""Integrations with other frameworks; each lives in its own module (``langchain``, ...).

Import the module you need, e.g. ``from agentmem.integrations.langchain import
AgentMemVectorStore``; nothing here is imported eagerly.
"""

__all__: list[str] = []
