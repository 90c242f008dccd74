"""Demo data: suppliers with price lists and a year of orders and deliveries of varied reliability.

Everything goes through the use cases (so receipts post to the ledger, backdated with the day the
goods arrived), which makes the scorecards in the demo the same figures real history would give.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask import current_app
from sqlalchemy import select

from accounts import services as accounts
from accounts.models import User
from accounts.principal import Principal
from core import db
from core.db import utcnow
from core.problems import Problem
from inventory.models import Product, Warehouse
from procurement import scorecards, suppliers
from procurement.models import PurchaseOrder, Supplier
from procurement.orders import receiving, transitions, writing
from procurement.orders.pricing import PriceBreak, quantity_problems


@dataclass(frozen=True)
class Profile:
    """How a supplier behaves; ``trend`` shifts its reliability over the year (+ improves)."""

    code: str
    name: str
    lead_time_days: int
    price_factor: float
    on_time: float
    short: float
    reject: float
    lead_spread: int
    trend: float = 0.0
    #: Days between orders, roughly.
    cadence: int = 12
    share: float = 0.5


PROFILES = [
    Profile(
        "HZP", "Hangzhou Precision Parts", 10, 1.00, 0.96, 0.02, 0.004, 1, cadence=9, share=0.6
    ),
    Profile("SZE", "Shenzhen Express Components", 7, 0.93, 0.85, 0.06, 0.02, 2, cadence=10),
    Profile("NBT", "Ningbo Trading Co.", 14, 0.97, 0.55, 0.20, 0.03, 6, trend=0.35, cadence=14),
    Profile("GZM", "Guangzhou Manufacturing", 12, 0.86, 0.35, 0.45, 0.12, 8, cadence=13),
    Profile(
        "QDL", "Qingdao Lianhe Industrial", 16, 0.91, 0.95, 0.04, 0.02, 3, trend=-1.6, cadence=15
    ),
    Profile("TJS", "Tianjin Premium Supply", 9, 1.12, 0.95, 0.02, 0.005, 1, cadence=20, share=0.4),
]
#: Admitted but never ordered from (shows a scorecard with no grade), and one suspended.
CANDIDATE = ("XMN", "Xiamen New Materials", 21)
SUSPENDED = ("WHS", "Wuhan Hardware Supply", 12)

PACKS = (1, 1, 1, 2, 5, 6, 10, 12)


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def _user(username: str, roles: list[str], warehouses: list[str] | None = None) -> Principal:
    """The demo's people: their accounts when the demo command has created them (it does so
    before seeding), otherwise a principal by name, so the seeder also runs on its own."""
    with db.read_only() as s:
        user = s.scalar(select(User).where(User.username == username))
        if user is not None:
            return accounts.principal_of(user)
    return Principal(
        user_id=None,
        username=username,
        roles=frozenset(roles),
        warehouses=frozenset(warehouses or ()),
    )


def _money(x: float) -> Decimal:
    return Decimal(str(x)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass
class Listing:
    sku: str
    price: Decimal
    moq: int
    pack: int
    lead: int
    breaks: list[PriceBreak]


def _price_list(
    rng: random.Random, profile: Profile, products: list[Product], default_currency: str
) -> dict[str, Listing]:
    """A share of the catalog at the profile's price level, with packs, MOQs and breaks."""
    chosen = [p for p in products if rng.random() < profile.share]
    out = {}
    for p in chosen:
        base = float(p.unit_cost) if p.unit_cost else rng.uniform(5, 200)
        price = _money(base * profile.price_factor * rng.uniform(0.95, 1.05))
        pack = rng.choice(PACKS)
        moq = pack * rng.choice((1, 2, 3, 5))
        breaks = []
        if rng.random() < 0.5:
            breaks = [
                PriceBreak(max(2, moq * 5), _money(float(price) * 0.96)),
                PriceBreak(max(3, moq * 20), _money(float(price) * 0.92)),
            ]
        lead = max(2, profile.lead_time_days + rng.randint(-2, 3))
        out[p.sku] = Listing(p.sku, price, moq, pack, lead, breaks)
    return out


def _quantity(rng: random.Random, listing: Listing) -> int:
    qty = listing.moq * rng.choice((1, 1, 2, 3, 4))
    qty += listing.pack * rng.randint(0, 3)
    qty = max(qty, listing.moq)
    if qty % listing.pack:
        qty += listing.pack - qty % listing.pack
    assert not quantity_problems(qty, listing.moq, listing.pack)
    return qty


class History:
    """Walks each supplier through a year of orders as the people in the demo would have."""

    def __init__(self, rng: random.Random, today: date) -> None:
        self.rng = rng
        self.today = today
        self.now = utcnow()
        self.buyer = _user("buyer", ["buyer"])
        self.approvers = [_user("approver", ["approver"]), _user("approver2", ["approver"])]
        with db.read_only() as s:
            codes = list(s.scalars(select(Warehouse.code).where(Warehouse.active.is_(True))))
        self.receiver = _user("warehouse", ["warehouse"], warehouses=codes)
        self.stats: Counter[str] = Counter()

    def _approve_all(self, po: PurchaseOrder, day: date) -> PurchaseOrder:
        for i, approver in enumerate(self.approvers):
            if po.status != "pending_approval":
                break
            po = transitions.approve(approver, po.id, "within budget", at=_at(day, 11 + i))
        return po

    def order(
        self,
        profile: Profile,
        listing: dict[str, Listing],
        warehouses: list[str],
        day: date,
        *,
        stop_at: str | None = None,
    ) -> PurchaseOrder | None:
        """One order placed on ``day``; with ``stop_at`` it is left in that state."""
        rng = self.rng
        skus = rng.sample(sorted(listing), k=min(len(listing), rng.randint(1, 5)))
        lines = [{"sku": sku, "quantity": _quantity(rng, listing[sku])} for sku in skus]
        data = {"supplier": profile.code, "warehouse": rng.choice(warehouses), "lines": lines}
        po = writing.create_order(self.buyer, data, at=_at(day, 9))
        self.stats["orders"] += 1
        if stop_at == "draft":
            return po
        po = transitions.submit(self.buyer, po.id, at=_at(day, 10))
        if po.status == "pending_approval":
            if stop_at == "pending_approval":
                if po.approvals_required == 2:
                    transitions.approve(
                        self.approvers[0], po.id, "first look: fine", at=_at(day, 11)
                    )
                return po
            if rng.random() < 0.03:
                transitions.reject(
                    self.approvers[0], po.id, "cheaper offer from another supplier", at=_at(day, 11)
                )
                self.stats["rejected"] += 1
                return None
            po = self._approve_all(po, day)
        if stop_at == "approved":
            return po
        if rng.random() < 0.03:
            transitions.cancel(self.buyer, po.id, "demand dropped", at=_at(day, 15))
            self.stats["cancelled"] += 1
            return None
        sent_day = day + timedelta(days=rng.randint(0, 1))
        if sent_day > self.today:
            return po
        po = transitions.send(self.buyer, po.id, at=_at(sent_day, 16))
        if stop_at == "sent":
            return po
        self.deliver(profile, po, sent_day, day)
        return po

    def deliver(self, profile: Profile, po: PurchaseOrder, sent_day: date, ordered: date) -> None:
        """Deliveries as the profile makes them: early or late, short, with rejects."""
        rng = self.rng
        progress = (ordered - (self.today - timedelta(days=365))).days / 365
        on_time = min(0.99, max(0.05, profile.on_time + profile.trend * (progress - 0.5)))
        reject = max(0.0, profile.reject * (1 - 1.5 * profile.trend * (progress - 0.5)))
        short = min(0.9, max(0.0, profile.short - profile.trend * 0.3 * (progress - 0.5)))
        assert po.expected_date is not None
        lead = (po.expected_date - sent_day).days
        if rng.random() < on_time:
            actual = lead - rng.randint(0, min(3, max(0, lead - 1)))
        else:
            actual = lead + rng.randint(1, 3 + 2 * profile.lead_spread)
        actual = max(1, actual + rng.randint(-profile.lead_spread, profile.lead_spread) // 2)
        first = sent_day + timedelta(days=actual)
        if first > self.today:
            return
        rows, owed = [], {}
        for line in po.lines:
            qty = line.quantity
            delivered = qty if rng.random() >= short else max(1, int(qty * rng.uniform(0.4, 0.9)))
            rejected = 0
            if rng.random() < min(1.0, reject * 6):
                rejected = min(
                    delivered, max(1, round(delivered * rng.uniform(0.3, 2.0) * reject * 3))
                )
            rows.append(
                {
                    "sku": line.product.sku,
                    "accepted": delivered - rejected,
                    "rejected": rejected,
                    **({"reject_reason": rng.choice(REJECT_REASONS)} if rejected else {}),
                }
            )
            if qty - (delivered - rejected) > 0:
                owed[line.product.sku] = qty - (delivered - rejected)
        self._receive(po, rows, first)
        if not owed:
            return
        if rng.random() < 0.6:
            second = first + timedelta(days=rng.randint(3, 12 + profile.lead_spread * 2))
            if second <= self.today:
                self._receive(
                    po, [{"sku": s, "accepted": q, "rejected": 0} for s, q in owed.items()], second
                )
                return
            return
        closing = first + timedelta(days=rng.randint(5, 20))
        if closing <= self.today:
            transitions.close(
                self.buyer, po.id, "supplier cannot deliver the rest", at=_at(closing, 17)
            )
            self.stats["closed short"] += 1

    def _receive(self, po: PurchaseOrder, rows: list[dict[str, Any]], day: date) -> None:
        rows = [r for r in rows if r["accepted"] + r["rejected"] > 0]
        if not rows:
            return
        when = min(_at(day, 14), self.now)
        receiving.receive(self.receiver, po.id, {"lines": rows, "received_at": when}, at=when)
        self.stats["receipts"] += 1
        self.stats["units rejected"] += sum(r["rejected"] for r in rows)


REJECT_REASONS = (
    "damaged in transit",
    "wrong item in the carton",
    "failed incoming inspection",
    "labels missing",
    "water damage",
)


def seed(rng: random.Random, today: date) -> list[str]:
    """Suppliers, price lists and a year of purchase orders and receipts; returns lines to print."""
    with db.read_only() as s:
        products = list(
            s.scalars(select(Product).where(Product.active.is_(True)).order_by(Product.sku))
        )
        warehouses = list(
            s.scalars(
                select(Warehouse.code).where(Warehouse.active.is_(True)).order_by(Warehouse.code)
            )
        )
        if s.scalar(select(Supplier.id).limit(1)) is not None:
            return ["procurement: suppliers exist already; nothing seeded"]
    if not products or not warehouses:
        return ["procurement: no products or warehouses to buy for; nothing seeded"]

    currency = current_app.config["DEFAULT_CURRENCY"]
    history = History(rng, today)
    listings: dict[str, dict[str, Listing]] = {}
    start = today - timedelta(days=365)
    for profile in PROFILES:
        suppliers.create_supplier(
            history.buyer,
            {
                "code": profile.code,
                "name": profile.name,
                "email": f"sales@{profile.code.lower()}.example",
                "default_lead_time_days": profile.lead_time_days,
            },
            at=_at(start - timedelta(days=30), 9),
        )
        suppliers.change_status(
            history.approvers[0], profile.code, "approve", "audit passed", at=_at(start, 8)
        )
        listing = _price_list(rng, profile, products, currency)
        listings[profile.code] = listing
        for item in listing.values():
            suppliers.add_item(
                history.buyer,
                profile.code,
                {
                    "sku": item.sku,
                    "supplier_sku": f"{profile.code}-{item.sku}",
                    "unit_price": item.price,
                    "moq": item.moq,
                    "pack_size": item.pack,
                    "lead_time_days": item.lead,
                    "price_breaks": [
                        {"min_quantity": b.min_quantity, "unit_price": b.unit_price}
                        for b in item.breaks
                        if b.unit_price < item.price
                    ],
                },
            )
    for code, name, lead in (CANDIDATE, SUSPENDED):
        suppliers.create_supplier(
            history.buyer, {"code": code, "name": name, "default_lead_time_days": lead}
        )
    suppliers.change_status(history.approvers[0], SUSPENDED[0], "approve", "trial order passed")
    suppliers.change_status(
        history.approvers[1],
        SUSPENDED[0],
        "suspend",
        "quality hold after a batch of cracked castings",
    )

    # A year of orders, each supplier at its own pace, placed in date order; the last weeks'
    # orders are still on their way.
    calendar: list[tuple[date, int]] = []
    for i, profile in enumerate(PROFILES):
        day = start + timedelta(days=rng.randint(0, profile.cadence))
        while day <= today - timedelta(days=3):
            calendar.append((day, i))
            day += timedelta(days=max(2, profile.cadence + rng.randint(-4, 4)))
    for day, i in sorted(calendar):
        profile = PROFILES[i]
        try:
            history.order(profile, listings[profile.code], warehouses, day)
        except Problem:  # e.g. a supplier refused for grade D where that is configured
            history.stats["refused"] += 1

    # Work waiting for each role in the UI.
    reliable = [p for p in PROFILES if p.code in ("HZP", "SZE", "TJS")]
    for stop_at, count in (("draft", 3), ("pending_approval", 4), ("approved", 2), ("sent", 4)):
        for i in range(count):
            profile = reliable[i % len(reliable)]
            ordered = today - timedelta(days=rng.randint(0, 2 if stop_at != "sent" else 6))
            history.order(profile, listings[profile.code], warehouses, ordered, stop_at=stop_at)

    graded = scorecards.rescore_all(today)
    by_status: Counter[str] = Counter()
    with db.read_only() as s:
        for status in s.scalars(select(PurchaseOrder.status)):
            by_status[status] += 1
    grades = ", ".join(
        f"{code} {grade or 'N/A'}{' (flagged)' if flag else ''}" for code, grade, flag in graded
    )
    stats = history.stats
    return [
        f"procurement: {len(PROFILES) + 2} suppliers with price lists for {len(products)} products",
        f"procurement: {stats['orders']} purchase orders, {stats['receipts']} receipts "
        f"({stats['units rejected']} units rejected), {stats['closed short']} closed short",
        "procurement: orders by status: "
        + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(by_status.items())),
        f"procurement: grades {grades}",
        "procurement: approver2 signs as second approver above "
        f"{current_app.config['PO_SECOND_APPROVAL_LIMIT']} {currency}",
    ]
