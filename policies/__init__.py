"""Retention policies: rules, written in code, for what memory keeps, changes and forgets."""

from agentmem.policies.base import BasePolicy
from agentmem.policies.thought import ThoughtPolicy, thought_key
from agentmem.policies.update import UpdatePolicy, fact_key

__all__ = ["BasePolicy", "ThoughtPolicy", "UpdatePolicy", "fact_key", "thought_key"]
