"""Stock, count, holds, jobs, audit, sign-in and error pages read in Simplified Chinese.

A reader who picked 简体中文 gets the page chrome, flash messages and form errors in Chinese,
while data (skus, codes, usernames, status values in ``data-*``) stays as stored. The English
texts the assertions rule out are the ones these pages showed before they were translated.
"""

from __future__ import annotations

import re

import pytest

from accounts import services as accounts
from core.i18n import COOKIE

ZH = "zh_Hans_CN"


@pytest.fixture
def people(app, make_product, make_warehouse, receive):
    make_product(sku="A", name="Anchor bolt")
    make_warehouse(code="W1", name="West")
    make_warehouse(code="W2", name="East")
    receive("A", "W1", 12345)
    with app.app_context():
        accounts.create_user("staff", ["warehouse"], warehouses=["W1"], password="pw-staff-1")
        accounts.create_user("boss", ["admin"], password="pw-boss-1")


def reader(app, username: str | None = None, password: str | None = None):
    client = app.test_client()
    client.set_cookie(COOKIE, ZH)
    if username:
        r = client.post("/login", data={"username": username, "password": password})
        assert r.status_code == 302, r.get_data(as_text=True)
    return client


@pytest.mark.parametrize(
    ("path", "chinese", "english"),
    [
        ("/stock", ["库存", "现有库存", "可用", "在途", "全部仓库"], ["On hand", "No stock"]),
        ("/stock/move", ["登记库存变动", "入库 —— 货物到达", "参考单号"], ["Receipt — goods in"]),
        ("/stock/counts", ["循环盘点", "盘点表", "登记盘点"], ["Count sheet", "Post count"]),
        ("/stock/movements", ["库存台账", "变动后现有库存", "入库"], ["On hand after"]),
        ("/products", ["产品", "单位成本", "搜索"], ["Unit cost", "No products match."]),
        ("/warehouses", ["仓库", "负库存", "优先级"], ["Negative stock", "refused"]),
        ("/holds", ["预留", "当前没有预留。"], ["Nothing is held right now."]),
        ("/jobs", ["后台任务", "全部类型", "暂无任务。"], ["No jobs to show."]),
    ],
)
def test_staff_pages_are_in_chinese(app, people, path, chinese, english):
    r = reader(app, "staff", "pw-staff-1").get(path)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    for text in chinese:
        assert text in html, text
    for text in english:
        assert text not in html, text
    assert 'lang="zh-CN"' in html


def test_stock_quantities_keep_their_thousands_separator_in_chinese(app, people):
    html = reader(app, "staff", "pw-staff-1").get("/stock?sku=A").get_data(as_text=True)
    row = re.search(r'data-sku="A" data-warehouse="W1">(.*?)</tr>', html, re.S).group(1)
    assert re.search(r'data-col="on_hand"><span[^>]*>12,345</span>', row)
    assert re.search(r'data-col="reserved"><span[^>]*text-secondary[^>]*>0</span>', row)


def test_a_posted_movement_is_reported_in_chinese(app, people):
    client = reader(app, "staff", "pw-staff-1")
    r = client.post(
        "/stock/move",
        data={"type": "receipt", "warehouse": "W1", "sku": "A", "quantity": "5"},
        follow_redirects=True,
    )
    assert "已登记入库 5 × A。W1：现有库存 12,350。" in r.get_data(as_text=True)


def test_form_errors_are_in_chinese(app, people):
    client = reader(app, "staff", "pw-staff-1")
    no_reason = client.post(
        "/stock/move", data={"type": "adjustment", "warehouse": "W1", "sku": "A", "quantity": "-1"}
    ).get_data(as_text=True)
    assert "请说明调整库存的原因。" in no_reason
    bad_line = client.post(
        "/stock/counts", data={"warehouse": "W1", "sheet": "A, 3\nA, lots"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "第 2 行" in bad_line


def test_a_count_result_is_in_chinese(app, people):
    client = reader(app, "staff", "pw-staff-1")
    r = client.post(
        "/stock/counts", data={"warehouse": "W1", "sheet": "A, 12340"}, follow_redirects=True
    )
    html = r.get_data(as_text=True)
    assert "W1 的盘点" in html
    assert "-5 → 现有库存 12,340" in html
    assert "已登记到台账的调整" in html


def test_the_audit_log_and_sign_in_pages_are_in_chinese(app, people):
    audit = reader(app, "boss", "pw-boss-1").get("/audit?until=2001-01-01").get_data(as_text=True)
    assert "审计日志" in audit
    assert "没有匹配的记录。" in audit
    login = reader(app).get("/login").get_data(as_text=True)
    assert "请使用公司账户登录。" in login
    assert "用户名" in login
    refused = reader(app).post("/login", data={"username": "staff", "password": "nope"})
    assert "用户名不存在或密码错误。" in refused.get_data(as_text=True)


def test_error_pages_are_in_chinese(app, people):
    client = reader(app, "staff", "pw-staff-1")
    missing = client.get("/nowhere", headers={"Accept": "text/html", "X-Request-ID": "req-zh-1"})
    html = missing.get_data(as_text=True)
    assert "未找到" in html
    assert '请求编号 <code data-testid="request-id">req-zh-1</code>' in html
    forbidden = client.get("/audit", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "你的角色无权执行此操作" in forbidden
    assert "此页面需要以下角色之一：admin, approver。" in forbidden
    assert "当前登录用户：staff（warehouse）" in forbidden


def test_without_a_choice_the_pages_stay_english(app, people):
    client = app.test_client()
    client.post("/login", data={"username": "staff", "password": "pw-staff-1"})
    html = client.get("/stock").get_data(as_text=True)
    assert "On hand" in html
    assert "现有库存" not in html
