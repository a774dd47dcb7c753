"""Retention policies: rules, written in code, for what memory keeps, changes and forgets."""

from agentmem._layout import check_same_checkout
from agentmem.policies.base import BasePolicy
from agentmem.policies.capacity import CapacityPolicy
from agentmem.policies.compose import Policies
from agentmem.policies.decay import DecayPolicy
from agentmem.policies.importance import (
    EntropyImportance,
    HeuristicImportance,
    ImportancePolicy,
    ImportanceScorer,
    LLMImportance,
    SurprisalModel,
)
from agentmem.policies.merge import MergePolicy, merge_items
from agentmem.policies.spec import parse_spec
from agentmem.policies.thought import ThoughtPolicy, thought_key
from agentmem.policies.ttl import TTLPolicy
from agentmem.policies.update import (
    LLMUpdateDecider,
    StructuredDecider,
    UpdateDecider,
    UpdateOp,
    UpdatePolicy,
    fact_key,
)

check_same_checkout(__file__, "policies")

__all__ = [
    "BasePolicy",
    "CapacityPolicy",
    "DecayPolicy",
    "EntropyImportance",
    "HeuristicImportance",
    "ImportancePolicy",
    "ImportanceScorer",
    "LLMImportance",
    "LLMUpdateDecider",
    "MergePolicy",
    "Policies",
    "StructuredDecider",
    "SurprisalModel",
    "TTLPolicy",
    "ThoughtPolicy",
    "UpdateDecider",
    "UpdateOp",
    "UpdatePolicy",
    "fact_key",
    "merge_items",
    "parse_spec",
    "thought_key",
]
