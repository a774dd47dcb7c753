"""Policy simulation moved to :mod:`agentmem.eval.simulate`; this keeps the old import path."""

from agentmem.eval.simulate import *  # noqa: F403
from agentmem.eval.simulate import __all__ as __all__
