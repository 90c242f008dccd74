"""Fixtures for jobs and forecasting: planners, ledger history on given days, waiting for jobs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from accounts.models import User
from accounts.principal import SYSTEM, Principal
from accounts.services import principal_of
from core import db, jobs
from core.db import UnitOfWork
from inventory import ledger
from inventory.catalog import product_by_sku, warehouse_by_code
from tests.factories import ApiClient, MakeUser


@pytest.fixture
def drain_jobs(app: Flask) -> Iterator[None]:
    """Wait for this app's job threads before the database goes away."""
    yield
    jobs.shutdown(app, wait=True)


@pytest.fixture
def planner(make_user: MakeUser) -> ApiClient:
    return make_user("planner")


@pytest.fixture
def principal_for(app: Flask) -> Callable[[ApiClient], Principal]:
    """The principal behind an API client, for calling services directly."""

    def find(api: ApiClient) -> Principal:
        with app.app_context(), db.read_only() as s:
            user = s.scalar(select(User).where(User.username == api.username))
            assert user is not None
            return principal_of(user)

    return find


def wait_for_job(
    api: ApiClient, job_id: int, *, timeout: float = 120.0, until: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Poll ``GET /jobs/<id>`` until it has finished (or is in ``until``); fail at the deadline."""
    finished = until or ("succeeded", "failed")
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = api.get(f"/jobs/{job_id}")
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.json
        if body["status"] in finished:
            return body
        time.sleep(0.05)
    pytest.fail(f"job {job_id} still {body.get('status')} after {timeout:.0f} s: {body}")


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


PostHistory = Callable[..., None]


@pytest.fixture
def post_history(app: Flask) -> PostHistory:
    """Simulate a shop: demand per day is sold from stock (07:00 receipts, 20:00 sales).

    ``demand`` maps days to units wanted; ``receipts`` maps days to units received that morning.
    What is wanted beyond stock is lost, as in a real stock-out. All movements go through the
    ledger with their historical ``occurred_at``.
    """

    def post(
        sku: str,
        warehouse: str,
        demand: Mapping[date, int],
        receipts: Mapping[date, int] | None = None,
    ) -> None:
        with app.app_context(), UnitOfWork() as uow:
            s = uow.session
            product = product_by_sku(s, sku)
            place = warehouse_by_code(s, warehouse)
            receipts = receipts or {}
            on_hand = 0
            for day in sorted(set(demand) | set(receipts)):
                moves = []
                if receipts.get(day):
                    moves.append(
                        ledger.Move(
                            product.id,
                            place.id,
                            "receipt",
                            receipts[day],
                            occurred_at=at(day, 7),
                        )
                    )
                    on_hand += receipts[day]
                sold = min(demand.get(day, 0), on_hand)
                if sold:
                    moves.append(
                        ledger.Move(product.id, place.id, "issue", -sold, occurred_at=at(day, 20))
                    )
                    on_hand -= sold
                for move in moves:  # one at a time: receipt before sale within the day
                    ledger.apply(s, [move], SYSTEM)
            uow.commit()

    return post
