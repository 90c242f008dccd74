"""A short-lived, per-process memory of which bearer tokens are valid and whose they are.

Every API request is authenticated, and the storefront asks for availability thousands of times a
second: without this, each of those requests would start with three queries (token, roles,
warehouses) and a hash. An entry lives ``AUTH_CACHE_SECONDS`` (default 5; 0 switches the cache
off). It is keyed by the secret as presented, so a request whose token is known costs one dict
look-up: no hashing, no database. The secret is in this process's memory while the request is
served anyway; the cache keeps it a few seconds longer, never on disk. Unknown, revoked or
malformed tokens are never cached.

Revoking a token through ``accounts.services.revoke_token`` forgets it at once in the process
that revoked it, including a check of that token that was running while it was revoked (an
entry read before a forgetting is not kept: ``generation``). Other processes (the other gunicorn
workers, or the workers when the revocation came from the ``flask accounts revoke-token``
command) keep honouring it until their entry is older than ``AUTH_CACHE_SECONDS``: that delay is
the price of the cache, and why the default is seconds, not minutes. The same applies to a user
being deactivated or losing a role (the admin pages forget that user's entries at once in their
own process).

So the bound is: a revoked token is refused immediately by the process that revoked it, and by
every other process at most ``AUTH_CACHE_SECONDS`` after the revocation committed. A token that
expires is never trusted past its ``expires_at``: its entry lives no longer than that.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from flask import Flask, has_app_context

from accounts.principal import Principal
from core import context

DEFAULT_SECONDS = 5.0
#: A storefront uses a handful of tokens; the bound only protects memory from a token-guessing flood
#: (unknown tokens are never cached, but this keeps the guarantee independent of that).
MAX_ENTRIES = 10_000


class TokenCache:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        #: Bumped by every forgetting; ``put`` ignores a check that started before one.
        self.generation = 0
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, secret: str) -> Principal | None:
        if self.seconds <= 0:
            return None
        entry = self._entries.get(secret)
        if entry is None:
            return None
        fresh_until, principal = entry
        if fresh_until <= self.clock():
            with self._lock:
                self._entries.pop(secret, None)
            return None
        return principal

    def put(
        self,
        secret: str,
        principal: Principal,
        generation: int | None = None,
        *,
        expires_at: datetime | None = None,
        now: datetime | None = None,
    ) -> None:
        """Remember a checked token. ``generation`` is the one read before the check started (a
        forgetting since then means the check may be stale: nothing is kept); ``expires_at``
        (with the app clock's ``now``) shortens the entry's life so that an expiring token is
        not honoured past its end."""
        if self.seconds <= 0:
            return
        lifetime = self.seconds
        if expires_at is not None and now is not None:
            lifetime = min(lifetime, (expires_at - now).total_seconds())
            if lifetime <= 0:
                return
        with self._lock:
            if generation is not None and generation != self.generation:
                return
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[secret] = (self.clock() + lifetime, principal)

    def forget_token(self, token_id: int) -> None:
        with self._lock:
            self.generation += 1
            for key in [k for k, (_, p) in self._entries.items() if p.token_id == token_id]:
                del self._entries[key]

    def forget_user(self, user_id: int) -> None:
        with self._lock:
            self.generation += 1
            for key in [k for k, (_, p) in self._entries.items() if p.user_id == user_id]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()


def init_app(app: Flask) -> None:
    seconds = float(app.config.get("AUTH_CACHE_SECONDS", DEFAULT_SECONDS))
    app.extensions["stockroom.token_cache"] = TokenCache(seconds)


def cache() -> TokenCache | None:
    if not has_app_context():
        return None
    return context.app().extensions.get("stockroom.token_cache")  # type: ignore[no-any-return]
