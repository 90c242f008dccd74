"""The purchasing and replenishment pages for a reader who chose Simplified Chinese: headings,
buttons, statuses, flash messages and chart legends come from the catalog, while data (order
numbers, skus, codes) and the status values that scripts and tests read stay as stored."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from core.i18n import COOKIE
from tests.forecasting_factories import wait_for_job

PASSWORD = "correct horse"


@pytest.fixture
def app_config():
    return {"PO_AUTO_APPROVE_LIMIT": Decimal("100"), "PO_SECOND_APPROVAL_LIMIT": Decimal("1000")}


@pytest.fixture
def people(app, world, make_user):
    """API clients for checking, and signed-in test clients that read Chinese, per role."""

    def person(*roles: str, warehouses: list[str] | None = None) -> tuple[Any, Any]:
        api = make_user(*roles, warehouses=warehouses, password=PASSWORD)
        web = app.test_client()
        r = web.post("/login", data={"username": api.username, "password": PASSWORD})
        assert r.status_code == 302
        web.set_cookie(COOKIE, "zh_Hans_CN")
        return api, web

    return {
        "buyer": person("buyer"),
        "approver": person("approver"),
        "warehouse": person("warehouse", warehouses=["W1"]),
        "planner": person("planner"),
    }


def page(web: Any, url: str) -> str:
    r = web.get(url)
    assert r.status_code == 200, (url, r.status_code)
    return r.get_data(as_text=True)


def after(web: Any, response: Any) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return page(web, response.headers["Location"])


def alerts(html: str, kind: str = "success") -> str:
    return " ".join(re.findall(rf'alert-{kind}[^"]*" role="alert">\s*(.*?)\s*<button', html, re.S))


def test_an_order_from_draft_to_receipt_reads_in_chinese(people):
    buyer_api, buyer = people["buyer"]
    _, approver = people["approver"]
    _, warehouse = people["warehouse"]

    listing = page(buyer, "/procurement/orders")
    assert '<html lang="zh-CN"' in listing
    assert '<h1 class="h3 mb-0">采购订单</h1>' in listing
    assert ">新建订单</a>" in listing
    assert "</i>采购订单</a>" in listing  # the menu entry
    assert ">待审批</option>" in listing
    assert 'value="pending_approval"' in listing

    form = page(buyer, "/procurement/orders/new")
    assert ">保存草稿</button>" in form
    # The script's texts are the catalog's, with the number and code filled in by the browser.
    assert "{code} 的价格表中有 {n} 个物料" in json.loads(
        re.search(r"one: (\".*?\"),", form).group(1)
    )

    r = buyer.post(
        "/procurement/orders/new",
        data={
            "supplier": "ACME",
            "warehouse": "W1",
            "lines-0-sku": "A",
            "lines-0-quantity": "20",
            "lines-1-sku": "B",
            "lines-1-quantity": "75",
        },
    )
    po_id = int(r.headers["Location"].rsplit("/", 1)[1])
    number = buyer_api.get(f"/purchase-orders/{po_id}").json["number"]
    assert alerts(after(buyer, r)) == f"{number} 已保存为草稿。"

    r = buyer.post(f"/procurement/orders/{po_id}/submit", data={"version": "1"})
    html = after(buyer, r)
    assert alerts(html) == f"{number} 已提交，当前状态：待审批。"
    assert 'data-testid="status">待审批</span>' in html

    queue = page(approver, "/procurement/approvals")
    assert "待您审批的订单" in queue
    assert f'data-testid="approval-{po_id}"' in queue
    assert ">批准</button>" in queue
    assert 'placeholder="备注（可选）"' in queue
    r = approver.post(f"/procurement/orders/{po_id}/approve", data={"version": "2"})
    assert alerts(after(approver, r)) == f"{number} 已批准。"

    buyer.post(f"/procurement/orders/{po_id}/send", data={"version": "3"})
    expected = page(warehouse, "/procurement/receiving")
    assert '<h1 class="h3 mb-0">待收货</h1>' in expected
    assert number in expected

    form = page(warehouse, f"/procurement/orders/{po_id}/receive")
    assert ">登记收货</button>" in form
    assert 'aria-label="验收 A"' in form
    r = warehouse.post(
        f"/procurement/orders/{po_id}/receive",
        data={"accepted-1": "18", "rejected-1": "2", "reject_reason-1": "dented"},
    )
    html = after(warehouse, r)
    receipt = re.search(r"收货单 (\d+)", alerts(html)).group(1)
    assert alerts(html) == f"{number} 的收货单 {receipt}：18 件验收入库 W1，2 件拒收。"
    assert 'data-testid="status">部分收货</span>' in html
    assert "A 验收 18，拒收 2 (dented)" in html
    assert "由 <strong>" in html  # the approval in the history, the approver's name in bold
    # The history's times are in the display time zone, not UTC.
    sent = buyer_api.get(f"/purchase-orders/{po_id}").json["sent_at"]
    local = datetime.fromisoformat(sent).astimezone(UTC) + timedelta(hours=8)
    assert f"已发送 · {local:%Y-%m-%d %H:%M}" in html


def test_supplier_pages_and_chart_legends_read_in_chinese(people):
    _, buyer = people["buyer"]
    _, approver = people["approver"]
    html = page(buyer, "/procurement/suppliers")
    assert 'placeholder="代码或名称"' in html
    assert ">已批准</option>" in html
    html = page(buyer, "/procurement/suppliers/ACME")
    assert "评分卡" in html
    assert ">加入价格表</button>" in html
    assert 'data-testid="grade">暂无</span>' in html  # no settled orders yet
    assert 'name: "\\u5f97\\u5206"' in html  # "得分", the score line in the chart
    assert ">暂停</button>" in page(approver, "/procurement/suppliers/ACME")
    r = approver.post("/procurement/suppliers/ACME/suspend", data={"reason": "audit overdue"})
    assert alerts(after(approver, r)) == "ACME 现为已暂停。"
    assert ">登记</button>" in page(buyer, "/procurement/suppliers/new")
    assert "需更正的行" not in page(buyer, "/procurement/suppliers/import")


def test_replenishment_pages_read_in_chinese(people, receive, store_forecast):
    _, planner = people["planner"]
    buyer_api, buyer = people["buyer"]
    receive("A", "W1", 40)
    store_forecast("A", "W1", mean=70, sd=10)

    html = page(planner, "/replenishment")
    assert ">计算采购计划</button>" in html
    row = re.search(r'data-sku="A" data-warehouse="W1">(.*?)</tr>', html, re.S).group(1)
    assert "需补货" in row

    html = page(planner, "/replenishment/item?sku=A&warehouse=W1")
    legend = html.split("const names = {", 1)[1].split("};", 1)[0]
    names = dict(re.findall(r"(\w+): (\"[^\"]*\"),", legend))
    assert {k: json.loads(v) for k, v in names.items()} == {
        "stock": "预计库存（不再下单）",
        "reorder_point": "再订货点",
        "safety_stock": "安全库存",
        "order_up_to": "补货上限",
    }

    r = buyer_api.post("/replenishment/plans", json={"warehouses": ["W1"]})
    assert r.status_code == 202, r.json
    assert wait_for_job(buyer_api, r.json["job_id"])["status"] == "succeeded"
    html = page(buyer, f"/replenishment/plans/{r.json['plan_id']}")
    assert 'data-status="succeeded"' in html  # the value scripts read stays as stored
    assert '<span data-col="status">已完成</span>' in html
    assert ">生成采购订单草稿</button>" in html
    assert "低于再订货点" in html
