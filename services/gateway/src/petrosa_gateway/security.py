"""API keys with scopes: ``read`` < ``write`` < ``admin``.

Keys come from configuration only. A presented key is compared with every configured key in
constant time (no early exit, no length leak through ``hmac.compare_digest``), and keys are
never logged.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from enum import StrEnum

from petrosa_gateway.errors import Forbidden, Unauthorized


class Scope(StrEnum):
    """What a key may do."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


_IMPLIED: dict[Scope, frozenset[Scope]] = {
    Scope.READ: frozenset({Scope.READ}),
    Scope.WRITE: frozenset({Scope.READ, Scope.WRITE}),
    Scope.ADMIN: frozenset({Scope.READ, Scope.WRITE, Scope.ADMIN}),
}
ALL_SCOPES = frozenset(Scope)


def expand(scopes: Sequence[Scope]) -> frozenset[Scope]:
    """Scopes with everything they imply."""
    return frozenset().union(*(_IMPLIED[scope] for scope in scopes))


class ApiKeys:
    """The configured keys; :meth:`scopes_of` authenticates a presented key."""

    def __init__(self, keys: Mapping[str, Sequence[Scope]], *, dev_mode: bool = False) -> None:
        self._keys = [(key.encode(), expand(scopes)) for key, scopes in keys.items()]
        self.dev_mode = dev_mode

    def scopes_of(self, presented: str | None) -> frozenset[Scope]:
        """Scopes of ``presented``; raises :class:`Unauthorized` if missing or unknown."""
        if self.dev_mode:
            return ALL_SCOPES
        if not presented:
            raise Unauthorized("missing API key: send X-API-Key or Authorization: Bearer <key>")
        candidate = presented.encode()
        granted: frozenset[Scope] | None = None
        for key, scopes in self._keys:  # every key is compared: timing says nothing
            if hmac.compare_digest(key, candidate):
                granted = scopes
        if granted is None:
            raise Unauthorized("invalid API key")
        return granted

    def require(self, presented: str | None, scope: Scope) -> None:
        """Raise 401/403 unless ``presented`` carries ``scope``."""
        if scope not in self.scopes_of(presented):
            raise Forbidden(f"this API key lacks the '{scope}' scope")


def presented_key(x_api_key: str | None, authorization: str | None) -> str | None:
    """The key from ``X-API-Key`` or ``Authorization: Bearer``."""
    if x_api_key:
        return x_api_key
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None
