"""Use cases of forecasting: import demand, plan promotions, start runs, read forecasts."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import delete, insert, or_, select, tuple_
from sqlalchemy.orm import Session

from accounts import audit
from accounts.principal import Principal
from core import jobs
from core.api import keyset_page
from core.db import UnitOfWork, read_only, utcnow
from core.inputs import csv_text
from core.problems import Invalid, NotFound
from forecasting import demand, history
from forecasting.models import DemandRecord, Forecast, ForecastRun, Promotion, PromotionWarehouse
from inventory.catalog import product_by_sku, warehouse_by_code
from inventory.models import Product, Warehouse

#: Roles that may read demand, promotions and forecasts: everyone who plans, buys or stocks.
#: Storefront clients only check availability and reserve.
READERS = ("planner", "buyer", "approver", "warehouse", "viewer")
#: Roles that change what forecasts learn from and start runs.
PLANNERS = ("planner",)
#: Kind of the background job that computes a run.
RUN_JOB = "forecast_run"


def today() -> date:
    return utcnow().date()


# --- demand import --------------------------------------------------------------------------------

REQUIRED_COLUMNS = ("sku", "warehouse", "date", "quantity")
OPTIONAL_COLUMNS = ("stockout",)
ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
WHOLE = re.compile(r"^\d+$")
TRUTHY = {"1", "true", "yes", "y"}
FALSY = {"", "0", "false", "no", "n"}
#: A file with many bad rows is answered with the first ones; fixing them shows the rest.
MAX_ROW_ERRORS = 100


@dataclass(frozen=True)
class _Row:
    line: int
    sku: str
    warehouse: str
    day: date
    quantity: int
    stockout: bool


def _parse_csv(text: str, latest: date) -> tuple[list[_Row], dict[str, list[str]]]:
    """Rows of ``sku,warehouse,date,quantity[,stockout]``; errors keyed "row N" (file lines)."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise Invalid("The file is empty.", errors={"file": ["no header line"]})
    columns = [c.strip().lower() for c in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if missing or unknown or duplicated:
        header_problems = (
            [f"missing column {c}" for c in missing]
            + [f"unknown column {c}" for c in unknown]
            + [f"column {c} appears twice" for c in duplicated]
        )
        raise Invalid(
            "The header must name the columns sku,warehouse,date,quantity (and optionally "
            "stockout).",
            errors={"row 1": header_problems},
        )
    position = {c: columns.index(c) for c in columns}
    rows: list[_Row] = []
    errors: dict[str, list[str]] = {}
    seen: dict[tuple[str, str, date], int] = {}
    for fields in reader:
        line = reader.line_num
        if not any(f.strip() for f in fields):
            continue
        problems: list[str] = []
        if len(fields) != len(columns):
            errors[f"row {line}"] = [f"expected {len(columns)} fields, found {len(fields)}"]
            continue
        value = {c: fields[i].strip() for c, i in position.items()}
        if not value["sku"]:
            problems.append("sku is empty")
        if not value["warehouse"]:
            problems.append("warehouse is empty")
        day: date | None = None
        if not ISO_DAY.match(value["date"]):
            problems.append(f"date {value['date']!r} is not YYYY-MM-DD")
        else:
            try:
                day = date.fromisoformat(value["date"])
            except ValueError:
                problems.append(f"date {value['date']!r} does not exist")
        if day is not None and day > latest:
            problems.append(f"date {day} is in the future")
        if not WHOLE.match(value["quantity"]):
            problems.append(f"quantity {value['quantity']!r} is not a whole number >= 0")
        stockout_text = value.get("stockout", "").lower()
        if stockout_text not in TRUTHY | FALSY:
            problems.append(f"stockout {value['stockout']!r} is not true/false")
        if day is not None and value["sku"] and value["warehouse"]:
            key = (value["sku"], value["warehouse"], day)
            if key in seen:
                problems.append(f"same sku, warehouse and date as row {seen[key]}")
            else:
                seen[key] = line
        if problems:
            errors[f"row {line}"] = problems
            continue
        assert day is not None
        rows.append(
            _Row(
                line,
                value["sku"],
                value["warehouse"],
                day,
                int(value["quantity"]),
                stockout_text in TRUTHY,
            )
        )
    return rows, errors


def _chunks(items: Sequence[Any], size: int = 500) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def import_demand(actor: Principal, content: bytes | str, source: str) -> dict[str, int]:
    """Import daily demand from CSV: every row is valid and imported, or nothing is.

    A day imported again for the same item and warehouse replaces the earlier figure, so a
    corrected file can simply be imported again.
    """
    text = csv_text(content)
    rows, errors = _parse_csv(text, today())
    with UnitOfWork() as uow:
        s = uow.session
        products: dict[str, int] = {}
        for chunk in _chunks(sorted({r.sku for r in rows})):
            found = s.execute(select(Product.sku, Product.id).where(Product.sku.in_(chunk)))
            products.update((sku, pid) for sku, pid in found)
        warehouses = dict(s.execute(select(Warehouse.code, Warehouse.id)).all())
        for r in rows:
            problems = []
            if r.sku not in products:
                problems.append(f"unknown sku {r.sku}")
            if r.warehouse not in warehouses:
                problems.append(f"unknown warehouse {r.warehouse}")
            if problems:
                errors[f"row {r.line}"] = problems
        if errors:
            ordered = sorted(errors, key=lambda k: int(k.split()[1]))
            shown = {k: errors[k] for k in ordered[:MAX_ROW_ERRORS]}
            more = len(ordered) - len(shown)
            raise Invalid(
                f"{len(ordered)} rows have errors; nothing was imported."
                + (f" The first {len(shown)} are listed." if more else ""),
                errors=shown,
            )
        if not rows:
            raise Invalid("The file has no data rows.", errors={"file": ["no data rows"]})
        keys = [(products[r.sku], warehouses[r.warehouse], r.day) for r in rows]
        replaced = 0
        for chunk in _chunks(keys):
            deleted = s.execute(
                delete(DemandRecord).where(
                    tuple_(
                        DemandRecord.product_id, DemandRecord.warehouse_id, DemandRecord.day
                    ).in_(list(chunk))
                )
            )
            replaced += deleted.rowcount  # type: ignore[attr-defined]
        now = utcnow()
        values = [
            {
                "product_id": p,
                "warehouse_id": w,
                "day": d,
                "quantity": r.quantity,
                "stockout": r.stockout,
                "source": source[:128],
                "imported_by": actor.username,
                "imported_at": now,
            }
            for (p, w, d), r in zip(keys, rows, strict=True)
        ]
        for chunk in _chunks(values, 5000):
            s.execute(insert(DemandRecord), list(chunk))
        audit.record(
            s,
            actor,
            "demand.import",
            "demand_history",
            source[:64],
            after={"rows": len(rows), "replaced": replaced},
        )
        uow.commit()
    return {"rows": len(rows), "replaced": replaced}


def demand_of(sku: str, warehouse: str, frequency: str) -> dict[str, Any]:
    """Demand per period as forecasts see it: recorded units, censored periods, promotions."""
    end = demand.history_end(today(), frequency)
    with read_only() as s:
        key = _series_key(s, sku, warehouse)
        series = history.load_demand(s, [key], frequency, end)[key.ids]
        index = series.demand.index
        windows = (
            history.load_promotions(s, [key], index[0].date(), end)[key.ids] if len(index) else []
        )
    share = demand.promotion_share(index, frequency, windows)
    periods = [
        {
            "start": start.date(),
            "quantity": int(series.recorded.iloc[i]),
            "demand": None if series.censored.iloc[i] else float(series.demand.iloc[i]),
            "censored": bool(series.censored.iloc[i]),
            "promotion": round(float(share.iloc[i]), 4),
        }
        for i, start in enumerate(index)
    ]
    return {
        "sku": key.sku,
        "warehouse": key.warehouse,
        "frequency": frequency,
        "history_end": end,
        "periods": periods,
    }


def _series_key(s: Session, sku: str, warehouse: str) -> history.SeriesKey:
    product = product_by_sku(s, sku)
    place = warehouse_by_code(s, warehouse)
    return history.SeriesKey(
        product.id, place.id, product.sku, place.code, place.allow_negative_stock
    )


# --- promotions -----------------------------------------------------------------------------------


def promotion_view(promo: Promotion, sku: str | None, codes: list[str]) -> dict[str, Any]:
    return {
        "id": promo.id,
        "name": promo.name,
        "sku": sku,
        "warehouses": sorted(codes),
        "start": promo.starts_on,
        "end": promo.ends_on,
        "expected_uplift": promo.expected_uplift,
        "discount": promo.discount,
        "created_by": promo.created_by,
        "created_at": promo.created_at,
    }


def _promotion_scope(s: Session, data: dict[str, Any]) -> tuple[Product | None, dict[str, int]]:
    """The item (typed in any case) and the warehouses a promotion names; 422 on the field."""
    product = None
    if data.get("sku"):
        try:
            product = product_by_sku(s, data["sku"])
        except NotFound as missing:
            raise Invalid(missing.detail, errors=missing.errors) from None
    codes = sorted(set(data.get("warehouses") or []))
    found = dict(
        s.execute(select(Warehouse.code, Warehouse.id).where(Warehouse.code.in_(codes))).all()
    )
    unknown = [c for c in codes if c not in found]
    if unknown:
        raise Invalid(
            "Some warehouses do not exist.",
            errors={"warehouses": [f"unknown warehouse {c}" for c in unknown]},
        )
    return product, found


def _audited(view: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, date) else v for k, v in view.items() if k != "created_at"}


def create_promotion(actor: Principal, data: dict[str, Any]) -> dict[str, Any]:
    """Plan a promotion; forecasts from the next run on take it into account."""
    with UnitOfWork() as uow:
        s = uow.session
        product, found = _promotion_scope(s, data)
        promo = Promotion(
            name=data["name"],
            product_id=product.id if product else None,
            starts_on=data["start"],
            ends_on=data["end"],
            expected_uplift=data.get("expected_uplift"),
            discount=data.get("discount"),
            created_by=actor.username,
            created_by_id=actor.user_id,
        )
        promo.warehouses = [PromotionWarehouse(warehouse_id=wid) for wid in found.values()]
        s.add(promo)
        s.flush()
        view = promotion_view(promo, product.sku if product else None, list(found))
        audit.record(s, actor, "promotion.create", "promotion", promo.id, after=_audited(view))
        uow.commit()
        return view


def _load_promotion(s: Session, promotion_id: int, *, lock: bool = False) -> Promotion:
    stmt = select(Promotion).where(Promotion.id == promotion_id)
    promo = s.scalar(stmt.with_for_update() if lock else stmt)
    if promo is None:
        raise NotFound(f"No promotion {promotion_id}.")
    return promo


def _view_of(s: Session, promo: Promotion) -> dict[str, Any]:
    sku = s.scalar(select(Product.sku).where(Product.id == promo.product_id))
    codes = list(
        s.scalars(
            select(Warehouse.code).where(
                Warehouse.id.in_([pw.warehouse_id for pw in promo.warehouses])
            )
        )
    )
    return promotion_view(promo, sku, codes)


def get_promotion(promotion_id: int) -> dict[str, Any]:
    with read_only() as s:
        return _view_of(s, _load_promotion(s, promotion_id))


def update_promotion(actor: Principal, promotion_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Replace a promotion's plan as a whole (the same fields as creating one), audited.

    Past promotions may be corrected too: forecasts learn uplift from them, so a wrong date or
    item there misleads every later run.
    """
    with UnitOfWork() as uow:
        s = uow.session
        promo = _load_promotion(s, promotion_id, lock=True)
        before = _audited(_view_of(s, promo))
        product, found = _promotion_scope(s, data)
        promo.name = data["name"]
        promo.product_id = product.id if product else None
        promo.starts_on = data["start"]
        promo.ends_on = data["end"]
        promo.expected_uplift = data.get("expected_uplift")
        promo.discount = data.get("discount")
        kept = {pw.warehouse_id: pw for pw in promo.warehouses}
        promo.warehouses = [
            kept.get(wid) or PromotionWarehouse(warehouse_id=wid) for wid in found.values()
        ]
        s.flush()
        view = promotion_view(promo, product.sku if product else None, list(found))
        after = _audited(view)
        changed = [k for k in after if after[k] != before.get(k)]
        audit.record(
            s,
            actor,
            "promotion.update",
            "promotion",
            promo.id,
            before={k: before.get(k) for k in changed},
            after={k: after[k] for k in changed},
        )
        uow.commit()
        return view


def delete_promotion(actor: Principal, promotion_id: int) -> None:
    """Withdraw a promotion; the audit entry keeps what it was."""
    with UnitOfWork() as uow:
        s = uow.session
        promo = _load_promotion(s, promotion_id, lock=True)
        before = _audited(_view_of(s, promo))
        s.delete(promo)
        audit.record(s, actor, "promotion.delete", "promotion", promotion_id, before=before)
        uow.commit()


def list_promotions(args: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    stmt = select(Promotion)
    with read_only() as s:
        if args.get("sku"):
            product = product_by_sku(s, args["sku"])
            stmt = stmt.where(
                or_(Promotion.product_id.is_(None), Promotion.product_id == product.id)
            )
        if args.get("warehouse"):
            place = warehouse_by_code(s, args["warehouse"])
            scoped = select(PromotionWarehouse.promotion_id).where(
                PromotionWarehouse.promotion_id == Promotion.id
            )
            stmt = stmt.where(
                or_(
                    ~scoped.exists(),
                    scoped.where(PromotionWarehouse.warehouse_id == place.id).exists(),
                )
            )
        if args.get("active_from"):
            stmt = stmt.where(Promotion.ends_on >= args["active_from"])
        if args.get("active_to"):
            stmt = stmt.where(Promotion.starts_on <= args["active_to"])
        promos, next_cursor = keyset_page(
            s,
            stmt,
            [Promotion.id],
            lambda p: [p.id],
            limit=args["limit"],
            cursor=args.get("cursor"),
            descending=True,
        )
        skus = dict(
            s.execute(
                select(Product.id, Product.sku).where(
                    Product.id.in_({p.product_id for p in promos if p.product_id})
                )
            ).all()
        )
        codes = dict(s.execute(select(Warehouse.id, Warehouse.code)).all())
        items = [
            promotion_view(
                p,
                skus.get(p.product_id) if p.product_id else None,
                [codes[pw.warehouse_id] for pw in p.warehouses],
            )
            for p in promos
        ]
    return items, next_cursor


# --- runs -----------------------------------------------------------------------------------------


def start_run(
    actor: Principal, data: dict[str, Any], *, executor: jobs.Executor | None = None
) -> dict[str, int]:
    """Record a forecast run and its job, then start it; returns their ids at once."""
    skus = sorted(set(data.get("skus") or [])) or None
    codes = sorted(set(data.get("warehouses") or [])) or None
    frequency = data["frequency"]
    jobs.reconcile_abandoned()
    with UnitOfWork() as uow:
        s = uow.session
        _check_named(s, skus, codes)
        keys = history.series_keys(s, skus, codes)
        if not keys:
            raise Invalid(
                "Nothing to forecast: no matching item has stock history or imported demand.",
                errors={"skus" if skus else "warehouses" if codes else "frequency": ["no series"]},
            )
        job = jobs.enqueue(s, RUN_JOB, {}, actor, executor=executor)
        run = ForecastRun(
            job_id=job.id,
            horizon=data["horizon"],
            frequency=frequency,
            skus=skus,
            warehouses=codes,
            history_end=demand.history_end(today(), frequency),
            series_total=len(keys),
            created_by=actor.username,
            created_by_id=actor.user_id,
        )
        s.add(run)
        s.flush()
        job.params = {"run_id": run.id}
        audit.record(
            s,
            actor,
            "forecast.run",
            "forecast_run",
            run.id,
            after={
                "horizon": run.horizon,
                "frequency": frequency,
                "skus": skus,
                "warehouses": codes,
                "series": len(keys),
            },
        )
        uow.commit()
        job_id, run_id = job.id, run.id
    if executor is not jobs.Executor.INLINE:
        jobs.dispatch(job_id)
    return {"job_id": job_id, "run_id": run_id}


def _check_named(s: Session, skus: list[str] | None, codes: list[str] | None) -> None:
    """Naming an item or warehouse that does not exist is a mistake to report, not to skip."""
    errors: dict[str, list[str]] = {}
    if skus:
        known: set[str] = set()
        for chunk in _chunks(skus):
            known.update(s.scalars(select(Product.sku).where(Product.sku.in_(chunk))))
        if unknown := [x for x in skus if x not in known]:
            errors["skus"] = [f"unknown sku {x}" for x in unknown[:50]]
    if codes:
        known = set(s.scalars(select(Warehouse.code).where(Warehouse.code.in_(codes))))
        if unknown := [x for x in codes if x not in known]:
            errors["warehouses"] = [f"unknown warehouse {x}" for x in unknown]
    if errors:
        raise Invalid("Some named items or warehouses do not exist.", errors=errors)


def _run_view(run: ForecastRun, job: jobs.Job, *, detail: bool = False) -> dict[str, Any]:
    view = {
        "id": run.id,
        "job_id": run.job_id,
        "status": job.status,
        "progress": job.progress,
        "message": job.message,
        "error": job.error,
        "horizon": run.horizon,
        "frequency": run.frequency,
        "skus": run.skus,
        "warehouses": run.warehouses,
        "history_end": run.history_end,
        "series_total": run.series_total,
        "series_done": run.series_done,
        "series_failed": run.series_failed,
        "accuracy": {"mase": run.mase, "wape": run.wape, "bias": run.bias},
        "models": run.models,
        "created_by": run.created_by,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
    }
    if detail:
        view["failures"] = run.failures
    return view


def list_runs(args: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    jobs.reconcile_abandoned()
    with read_only() as s:
        rows, next_cursor = keyset_page(
            s,
            select(ForecastRun, jobs.Job).join(jobs.Job, jobs.Job.id == ForecastRun.job_id),
            [ForecastRun.id],
            lambda r: [r[0].id],
            limit=args["limit"],
            cursor=args.get("cursor"),
            descending=True,
            scalars=False,
        )
        return [_run_view(run, job) for run, job in rows], next_cursor


def get_run(run_id: int) -> dict[str, Any]:
    with read_only() as s:
        job_id = s.scalar(select(ForecastRun.job_id).where(ForecastRun.id == run_id))
    if job_id is None:
        raise NotFound(f"No forecast run {run_id}.")
    jobs.reconcile_abandoned([job_id])
    with read_only() as s:
        run, job = s.execute(
            select(ForecastRun, jobs.Job)
            .join(jobs.Job, jobs.Job.id == ForecastRun.job_id)
            .where(ForecastRun.id == run_id)
        ).one()
        return _run_view(run, job, detail=True)


# --- forecasts ------------------------------------------------------------------------------------


def forecast_view(row: Forecast, sku: str, warehouse: str) -> dict[str, Any]:
    return {
        "sku": sku,
        "warehouse": warehouse,
        "run_id": row.run_id,
        "frequency": row.frequency,
        "model": row.model,
        "history_end": row.history_end,
        "observations": row.observations,
        "censored": row.censored,
        "periods": [{**p, "start": date.fromisoformat(p["start"])} for p in row.periods],
        "accuracy": {"mase": row.mase, "wape": row.wape, "bias": row.bias},
        "created_at": row.created_at,
    }


def latest_forecast(sku: str, warehouse: str, frequency: str | None = None) -> dict[str, Any]:
    """The most recent forecast of one item in one warehouse (of one frequency, if given)."""
    with read_only() as s:
        key = _series_key(s, sku, warehouse)
        stmt = (
            select(Forecast)
            .where(Forecast.product_id == key.product_id, Forecast.warehouse_id == key.warehouse_id)
            .order_by(Forecast.id.desc())
            .limit(1)
        )
        if frequency:
            stmt = stmt.where(Forecast.frequency == frequency)
        row = s.scalar(stmt)
        if row is None:
            raise NotFound(
                f"No forecast of {key.sku} in {key.warehouse} yet; start a forecast run.",
                slug="no-forecast",
            )
        return forecast_view(row, key.sku, key.warehouse)


def series_choices(limit: int = 5000) -> list[tuple[str, str]]:
    """(sku, warehouse) pairs that have a forecast, for pickers in the web UI."""
    with read_only() as s:
        rows = s.execute(
            select(Product.sku, Warehouse.code)
            .join(Forecast, Forecast.product_id == Product.id)
            .join(Warehouse, Warehouse.id == Forecast.warehouse_id)
            .group_by(Product.sku, Warehouse.code)
            .order_by(Product.sku, Warehouse.code)
            .limit(limit)
        ).all()
    return [(sku, code) for sku, code in rows]
