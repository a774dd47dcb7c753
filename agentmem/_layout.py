"""The source layout check: ``agentmem.stores`` and ``agentmem.policies`` from this checkout.

The repository keeps ``stores/`` and ``policies/`` beside ``agentmem/`` and installs them
as ``agentmem.stores`` and ``agentmem.policies``. With two checkouts installed in
development mode one after the other, Python can import ``agentmem`` from one and the
stores from the other. Each of the two packages calls :func:`check_same_checkout` when it
loads, which warns when that happens (a ``RuntimeWarning``: shown by default, unlike an
``ImportWarning``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

__all__ = ["check_same_checkout"]


def check_same_checkout(part_file: str, name: str) -> bool:
    """Warn (and return False) unless ``part_file`` belongs with the loaded ``agentmem``.

    An installed copy keeps ``agentmem/<name>/``; a checkout keeps ``<root>/<name>/``
    beside ``<root>/agentmem/``. ``part_file`` is the ``__file__`` of the part's package.
    """
    core = Path(__file__).resolve().parent
    here = Path(part_file).resolve().parent
    if here.parent in (core, core.parent):
        return True
    warnings.warn(
        f"agentmem.{name} was loaded from {here}, but agentmem from {core}: two checkouts "
        f"are mixed. Reinstall from one of them (pip install -e .) so both come from it.",
        RuntimeWarning,
        stacklevel=2,
    )
    return False
