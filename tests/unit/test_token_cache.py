"""The per-process memory of checked bearer tokens: short-lived and forgotten on revocation."""

from __future__ import annotations

from accounts.principal import Principal
from accounts.token_cache import TokenCache


class Ticker:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


ALICE = Principal(user_id=1, username="alice", roles=frozenset({"storefront"}), token_id=7)
BOB = Principal(user_id=2, username="bob", roles=frozenset({"viewer"}), token_id=8)


def test_an_entry_is_trusted_only_for_its_lifetime():
    ticker = Ticker()
    cache = TokenCache(5, clock=ticker)
    cache.put("h1", ALICE)
    assert cache.get("h1") == ALICE
    ticker.t += 4.9
    assert cache.get("h1") == ALICE
    ticker.t += 0.1
    assert cache.get("h1") is None


def test_forgetting_a_token_or_a_user_drops_their_entries_only():
    cache = TokenCache(60)
    cache.put("h1", ALICE)
    cache.put("h2", BOB)
    cache.forget_token(7)
    assert cache.get("h1") is None
    assert cache.get("h2") == BOB
    cache.forget_user(2)
    assert cache.get("h2") is None


def test_zero_seconds_switches_the_cache_off():
    cache = TokenCache(0)
    cache.put("h1", ALICE)
    assert cache.get("h1") is None


def test_a_check_that_started_before_a_revocation_is_not_kept():
    cache = TokenCache(60)
    started = cache.generation
    cache.forget_token(7)  # revoked while the check was reading the database
    cache.put("srk_alice", ALICE, started)
    assert cache.get("srk_alice") is None
    cache.put("srk_alice", ALICE, cache.generation)
    assert cache.get("srk_alice") == ALICE


def test_an_expiring_token_is_not_trusted_past_its_end():
    from datetime import UTC, datetime, timedelta

    ticker = Ticker()
    cache = TokenCache(5, clock=ticker)
    now = datetime(2026, 3, 2, tzinfo=UTC)
    cache.put("h1", ALICE, expires_at=now + timedelta(seconds=2), now=now)
    assert cache.get("h1") == ALICE
    ticker.t += 2
    assert cache.get("h1") is None
    cache.put("h2", BOB, expires_at=now, now=now)
    assert cache.get("h2") is None
