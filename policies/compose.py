"""Policies([...]): several retention policies run in order as one (defined in core).

:class:`~agentmem.Memory` composes its policies with it, so it lives in
:mod:`agentmem._compose`; this module keeps the public import path.
"""

from agentmem._compose import Policies

__all__ = ["Policies"]
