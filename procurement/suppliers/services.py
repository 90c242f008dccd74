"""Use cases for suppliers: registering them, their details and standing, and the review an
approver gives a supplier its scorecard flagged. Each is one transaction that commits itself.

A supplier starts as a candidate; only an approver admits (approves), suspends or blocks it, and
every change of standing is kept as a ``SupplierEvent`` as well as in the audit log.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from accounts import audit
from accounts.principal import Principal
from core.api import AnySelect, keyset_page
from core.db import UnitOfWork, moment, read_only
from core.listing import ListQuery, ListSpec, Page, matching, page_of, stream
from core.problems import Conflict, Invalid, NotFound
from procurement.models import Supplier, SupplierEvent, SupplierItem, SupplierStatus
from procurement.suppliers.csv_import import ImportOutcome, Parsed

SUPPLIER_FIELDS = ("name", "email", "currency", "default_lead_time_days")

#: Who manages suppliers' details and price lists, and who decides on their standing.
BUYERS = ("buyer",)
APPROVERS = ("approver",)

#: action -> (states it may start from, state it leads to, whether a reason is required)
STATUS_ACTIONS: dict[str, tuple[frozenset[str], str, bool]] = {
    "approve": (frozenset({"candidate", "suspended"}), SupplierStatus.APPROVED.value, False),
    "suspend": (frozenset({"approved"}), SupplierStatus.SUSPENDED.value, True),
    "block": (
        frozenset({"candidate", "approved", "suspended"}),
        SupplierStatus.BLOCKED.value,
        True,
    ),
}


# --- lookups --------------------------------------------------------------------------------------


def supplier_by_code(s: Session, code: str, *, field: str | None = None) -> Supplier:
    """404 for a supplier in the path; 422 naming ``field`` for one named in a body."""
    supplier = s.scalar(select(Supplier).where(Supplier.code == code))
    if supplier is None:
        if field:
            raise Invalid(f"No supplier {code}.", errors={field: [f"unknown supplier {code}"]})
        raise NotFound(f"No supplier {code}.")
    return supplier


def _event(
    s: Session,
    supplier: Supplier,
    actor: Principal,
    kind: str,
    reason: str | None,
    *,
    from_status: str | None,
    at: datetime | None = None,
) -> None:
    s.add(
        SupplierEvent(
            supplier_id=supplier.id,
            kind=kind,
            from_status=from_status,
            to_status=supplier.status,
            reason=reason,
            actor_id=actor.user_id,
            actor=actor.username,
            at=moment(at),
        )
    )


# --- suppliers ------------------------------------------------------------------------------------


def _new_supplier(
    s: Session, actor: Principal, data: dict[str, Any], at: datetime | None = None
) -> Supplier:
    supplier = Supplier(
        created_at=moment(at),
        code=data["code"],
        name=data["name"],
        email=data.get("email"),
        currency=data.get("currency") or current_app.config["DEFAULT_CURRENCY"],
        default_lead_time_days=data["default_lead_time_days"],
        status=SupplierStatus.CANDIDATE.value,
        created_by=actor.username,
    )
    s.add(supplier)
    s.flush()
    _event(s, supplier, actor, "created", data.get("reason"), from_status=None, at=at)
    audit.record(
        s,
        actor,
        "supplier.create",
        "supplier",
        supplier.code,
        after=audit.snapshot(supplier, ("code", *SUPPLIER_FIELDS, "status")),
    )
    return supplier


def create_supplier(
    actor: Principal, data: dict[str, Any], *, at: datetime | None = None
) -> Supplier:
    """A new supplier starts as a candidate: it gets no orders until an approver admits it."""
    actor.ensure_role(*BUYERS)
    with UnitOfWork() as uow:
        s = uow.session
        if s.scalar(select(Supplier.id).where(Supplier.code == data["code"])) is not None:
            raise Conflict(f"Supplier {data['code']} exists.", errors={"code": ["taken"]})
        try:
            supplier = _new_supplier(s, actor, data, at)
        except IntegrityError:  # a concurrent create of the same code won the race
            raise Conflict(f"Supplier {data['code']} exists.", errors={"code": ["taken"]})
        uow.commit()
        return supplier


def update_supplier(actor: Principal, code: str, changes: dict[str, Any]) -> Supplier:
    actor.ensure_role(*BUYERS)
    with UnitOfWork() as uow:
        s = uow.session
        supplier = supplier_by_code(s, code)
        if "currency" in changes and changes["currency"] != supplier.currency:
            has_items = s.scalar(
                select(func.count()).where(SupplierItem.supplier_id == supplier.id)
            )
            if has_items:
                raise Conflict(
                    "The currency of a supplier with a price list cannot change; "
                    "import a new price list under a new supplier code instead.",
                    errors={"currency": ["supplier has a price list"]},
                )
        before = audit.snapshot(supplier, changes)
        for name, value in changes.items():
            setattr(supplier, name, value)
        audit.record(
            s,
            actor,
            "supplier.update",
            "supplier",
            code,
            before=before,
            after=audit.snapshot(supplier, changes),
        )
        uow.commit()
        return supplier


def change_status(
    actor: Principal,
    code: str,
    action: str,
    reason: str | None,
    *,
    at: datetime | None = None,
) -> Supplier:
    """Approve, suspend or block a supplier, recording who decided and why."""
    actor.ensure_role(*APPROVERS)
    starts, target, reason_required = STATUS_ACTIONS[action]
    reason = (reason or "").strip() or None
    with UnitOfWork() as uow:
        s = uow.session
        supplier = s.scalar(select(Supplier).where(Supplier.code == code).with_for_update())
        if supplier is None:
            raise NotFound(f"No supplier {code}.")
        if supplier.status not in starts:
            raise Conflict(
                f"A {supplier.status} supplier cannot be {target}; "
                f"that needs a supplier that is {' or '.join(sorted(starts))}.",
                slug="illegal-transition",
                errors={"status": [supplier.status]},
            )
        if reason_required and reason is None:
            raise Invalid(f"Say why {code} is {target}.", errors={"reason": ["required"]})
        before = supplier.status
        supplier.status = target
        supplier.status_reason = reason
        supplier.status_changed_by = actor.username
        supplier.status_changed_at = moment(at)
        _event(s, supplier, actor, target, reason, from_status=before, at=at)
        audit.record(
            s,
            actor,
            f"supplier.{action}",
            "supplier",
            code,
            reason=reason,
            before={"status": before},
            after={"status": target},
        )
        uow.commit()
        return supplier


def review(actor: Principal, code: str, reason: str) -> Supplier:
    """An approver has looked at a supplier flagged by its scorecard and says what was decided."""
    actor.ensure_role(*APPROVERS)
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("Say what the review found.", errors={"reason": ["required"]})
    with UnitOfWork() as uow:
        s = uow.session
        supplier = s.scalar(select(Supplier).where(Supplier.code == code).with_for_update())
        if supplier is None:
            raise NotFound(f"No supplier {code}.")
        if not supplier.flagged_for_review:
            raise Conflict(
                f"{code} is not flagged for review.", errors={"flagged_for_review": ["false"]}
            )
        supplier.flagged_for_review = False
        _event(s, supplier, actor, "reviewed", reason, from_status=supplier.status)
        audit.record(
            s,
            actor,
            "supplier.review",
            "supplier",
            code,
            reason=reason,
            before={"flagged_for_review": True, "flag_reason": supplier.flag_reason},
            after={"flagged_for_review": False},
        )
        uow.commit()
        return supplier


def get_supplier(code: str) -> Supplier:
    with read_only() as s:
        supplier = s.scalar(
            select(Supplier).where(Supplier.code == code).options(selectinload(Supplier.events))
        )
        if supplier is None:
            raise NotFound(f"No supplier {code}.")
        return supplier


def approved_suppliers() -> list[Supplier]:
    """The suppliers that may get orders now, by code (a new order picks one of them)."""
    with read_only() as s:
        return list(
            s.scalars(
                select(Supplier)
                .where(Supplier.status == SupplierStatus.APPROVED.value)
                .order_by(Supplier.code)
            )
        )


def list_suppliers(args: dict[str, Any]) -> tuple[list[Supplier], str | None]:
    stmt = select(Supplier)
    if args.get("status"):
        stmt = stmt.where(Supplier.status == args["status"])
    if args.get("grade"):
        stmt = stmt.where(Supplier.grade == args["grade"])
    if args.get("flagged") is not None:
        stmt = stmt.where(Supplier.flagged_for_review.is_(args["flagged"]))
    if args.get("q"):
        pattern = f"%{args['q'].lower()}%"
        stmt = stmt.where(
            or_(func.lower(Supplier.code).like(pattern), func.lower(Supplier.name).like(pattern))
        )
    with read_only() as s:
        return keyset_page(
            s,
            stmt,
            [Supplier.code],
            lambda x: [x.code],
            limit=args["limit"],
            cursor=args.get("cursor"),
        )


# --- the suppliers page ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SupplierFilter:
    status: str | None = None
    grade: str | None = None
    #: ``1``: only suppliers flagged for review.
    flagged: str | None = None


SUPPLIER_FILTER_CHOICES = {
    "status": tuple(s.value for s in SupplierStatus),
    "grade": ("A", "B", "C", "D"),
    "flagged": ("1",),
}

SUPPLIER_LIST = ListSpec(
    name="suppliers",
    filters=SupplierFilter,
    sorts={
        "code": Supplier.code,
        "name": Supplier.name,
        "status": Supplier.status,
        "grade": Supplier.grade,
        "score": Supplier.score,
        "currency": Supplier.currency,
        "lead_time": Supplier.default_lead_time_days,
        "graded_at": Supplier.graded_at,
    },
    default_sort="code",
    tiebreak=(Supplier.id,),
)

SUPPLIER_CSV_HEADER = (
    "code",
    "name",
    "status",
    "grade",
    "score",
    "flagged_for_review",
    "currency",
    "default_lead_time_days",
    "email",
    "graded_at_utc",
    "created_at_utc",
)


def _supplier_list(query: ListQuery[SupplierFilter]) -> AnySelect:
    f = query.filters
    stmt = select(
        Supplier.code,
        Supplier.name,
        Supplier.status,
        Supplier.grade,
        Supplier.score,
        Supplier.flagged_for_review,
        Supplier.currency,
        Supplier.default_lead_time_days,
        Supplier.email,
        Supplier.graded_at,
        Supplier.created_at,
    )
    if f.status:
        stmt = stmt.where(Supplier.status == f.status)
    if f.grade:
        stmt = stmt.where(Supplier.grade == f.grade)
    if f.flagged:
        stmt = stmt.where(Supplier.flagged_for_review.is_(True))
    found = matching(query, Supplier.code, Supplier.name)
    return stmt if found is None else stmt.where(found)


def supplier_page(query: ListQuery[SupplierFilter]) -> Page[Any]:
    """One page of suppliers (rows named like ``SUPPLIER_CSV_HEADER``)."""
    with read_only() as s:
        return page_of(s, _supplier_list(query), query, lambda r: r)


def supplier_rows(query: ListQuery[SupplierFilter]) -> Iterator[Sequence[Any]]:
    return stream(_supplier_list(query), query, tuple)


def import_suppliers(actor: Principal, parsed: Parsed) -> ImportOutcome:
    """Create every supplier of a file, or none: any bad row -> 422 listing them all."""
    actor.ensure_role(*BUYERS)
    rows = parsed.rows
    with UnitOfWork() as uow:
        s = uow.session
        codes = [data["code"] for _, data in rows]
        existing = set(s.scalars(select(Supplier.code).where(Supplier.code.in_(codes))))
        errors: dict[str, list[str]] = {}
        first_row: dict[str, int] = {}
        for row, data in rows:
            code = data["code"]
            if code in existing:
                errors.setdefault(f"row {row}", []).append(f"code: supplier {code} exists")
            elif code in first_row:
                errors.setdefault(f"row {row}", []).append(
                    f"code: {code} is on row {first_row[code]} already"
                )
            first_row.setdefault(code, row)
        parsed.fail_if_any(errors)
        for _, data in rows:
            _new_supplier(s, actor, data)
        uow.commit()
        return ImportOutcome(rows=len(rows), created=len(rows), updated=0)
