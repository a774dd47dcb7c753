"""API keys: which users each key may touch, read from a KEYS.json file.

``{"KEY": ["alice", "bob"], "ADMIN-KEY": "*"}``: a key maps to the user ids it may read
and change, or to ``"*"`` (alone or in the list) for every user. Requests carry the key
as ``Authorization: Bearer KEY``.

Keys are held only as SHA-256 digests and compared with :func:`hmac.compare_digest`
against every known key (no early exit), so neither the time taken nor an error message
tells how much of a key was right. Keys are never logged; a principal is named in logs
and rate limits by a short digest prefix.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from agentmem._errors import InvalidInputError, UserError

__all__ = ["ADMIN", "Keys", "Principal"]

ADMIN = "*"
_MIN_KEY_LENGTH = 16


@dataclass(frozen=True)
class Principal:
    """Who made a request: the key's users (or every user, for an admin key)."""

    key_id: str
    users: frozenset[str]
    admin: bool = False

    def allows(self, user_id: str) -> bool:
        """Whether this key may read and change ``user_id``'s memories."""
        return self.admin or user_id in self.users


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


class Keys:
    """The API keys a server accepts.

    Args:
        mapping: key -> user ids (a list, or ``"*"`` for every user).
    """

    def __init__(self, mapping: Mapping[str, str | Iterable[str]]) -> None:
        if not isinstance(mapping, Mapping) or not mapping:
            msg = 'keys must map each API key to its user ids, e.g. {"KEY": ["alice"]}'
            raise InvalidInputError(msg)
        self._entries: list[tuple[bytes, Principal]] = []
        for number, (key, users) in enumerate(mapping.items(), 1):
            if not isinstance(key, str) or len(key) < _MIN_KEY_LENGTH:
                msg = (
                    f"key number {number} is shorter than {_MIN_KEY_LENGTH} characters; "
                    'make keys long and random, e.g. python -c "import secrets; '
                    'print(secrets.token_urlsafe(32))"'
                )
                raise InvalidInputError(msg)
            names = [users] if isinstance(users, str) else list(users)
            if not names or not all(isinstance(name, str) and name.strip() for name in names):
                msg = f'key number {number} must map to user ids (a non-empty list) or "*"'
                raise InvalidInputError(msg)
            digest = _digest(key)
            principal = Principal(
                key_id=digest.hex()[:8],
                users=frozenset(name for name in names if name != ADMIN),
                admin=ADMIN in names,
            )
            self._entries.append((digest, principal))

    @classmethod
    def load(cls, path: str | Path) -> Keys:
        """Read a KEYS.json file."""
        file = Path(path).expanduser()
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            msg = f'no keys file at {file}; write one like {{"KEY": ["alice"]}}'
            raise UserError(msg) from exc
        except (OSError, ValueError) as exc:
            msg = f"cannot read the keys file {file}: {exc}"
            raise UserError(msg) from exc
        return cls(data)

    def __len__(self) -> int:
        return len(self._entries)

    def authenticate(self, token: str) -> Principal | None:
        """The principal whose key is ``token``, or ``None``; constant time per key."""
        digest = _digest(token)
        found: Principal | None = None
        for known, principal in self._entries:
            if hmac.compare_digest(known, digest):
                found = principal
        return found
