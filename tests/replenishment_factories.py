"""Replenishment test data: a stored forecast with a known distribution per period."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from core.db import UnitOfWork, utcnow
from core.jobs import Job
from forecasting.models import Forecast, ForecastRun
from inventory.models import Product, Warehouse

#: z of the 10 % and 90 % quantiles: (q90 - q10) / (2 * Z90) is the normal sd.
Z90 = 1.2815515655446004

StoreForecast = Callable[..., None]


@pytest.fixture
def store_forecast(app: Flask) -> StoreForecast:
    """``store_forecast("A", "W1", mean=70, sd=10, periods=8)``: a weekly normal forecast."""

    def store(
        sku: str,
        warehouse: str,
        *,
        mean: float,
        sd: float,
        periods: int = 8,
        model: str = "ets(A,N,N)",
        frequency: str = "W",
    ) -> None:
        with app.app_context(), UnitOfWork() as uow:
            s = uow.session
            product = s.scalar(select(Product).where(Product.sku == sku))
            site = s.scalar(select(Warehouse).where(Warehouse.code == warehouse))
            assert product is not None
            assert site is not None
            job = Job(
                kind="forecast_run",
                status="succeeded",
                progress=1.0,
                params={},
                created_by="test",
                executor="inline",
                created_at=utcnow(),
            )
            s.add(job)
            s.flush()
            today = utcnow().date()
            run = ForecastRun(
                job_id=job.id,
                horizon=periods,
                frequency=frequency,
                history_end=today,
                created_by="test",
            )
            s.add(run)
            s.flush()
            step = 7 if frequency == "W" else 1
            s.add(
                Forecast(
                    run_id=run.id,
                    product_id=product.id,
                    warehouse_id=site.id,
                    frequency=frequency,
                    model=model,
                    history_end=today,
                    observations=100,
                    censored=0,
                    periods=[
                        {
                            "start": (today + timedelta(days=step * (i + 1))).isoformat(),
                            "mean": mean,
                            "quantiles": {
                                "0.1": mean - Z90 * sd,
                                "0.5": mean,
                                "0.9": mean + Z90 * sd,
                            },
                        }
                        for i in range(periods)
                    ],
                )
            )
            uow.commit()

    return store
