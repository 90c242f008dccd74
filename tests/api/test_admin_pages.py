"""Admins manage users and API tokens on web pages; every change is audited with who and why.

A token's secret is shown on the page that created it and never again; the token works on the
API until it is revoked on the page, and from then on it is a 401 (at once in this process).
"""

from __future__ import annotations

import html as html_lib
import re
import threading
from datetime import UTC, datetime

import pytest

from accounts import services as accounts
from core.i18n import COOKIE
from tests.factories import ApiClient, assert_problem


def signed_in(app, username: str, password: str):
    client = app.test_client()
    r = client.post("/login", data={"username": username, "password": password})
    assert r.status_code == 302, r.get_data(as_text=True)
    return client


def field_errors(html: str, name: str) -> list[str]:
    """Messages under a text field (by id) or a group of checkboxes (by ``data-field``)."""
    grouped = re.findall(rf'invalid-feedback d-block" data-field="{name}">(.*?)</div>', html)
    if grouped:
        return [html_lib.unescape(m) for m in grouped]
    start = html.index(f'id="{name}"')
    ends = [i for i in (html.find("<label", start), html.find("</form>", start)) if i != -1]
    chunk = html[start : min(ends)]
    found = re.findall(r'class="invalid-feedback d-block">(.*?)</div>', chunk)
    return [html_lib.unescape(m) for m in found]


def user_id(app, username: str) -> int:
    with app.app_context():
        return next(u.id for u in accounts.list_users() if u.username == username)


def audit(admin: ApiClient, object_type: str, object_id: int | str) -> list[dict]:
    return admin.get(f"/audit?object_type={object_type}&object_id={object_id}").json["items"]


def secret_on(html: str) -> str:
    return re.search(r'data-testid="token-secret">([^<]+)<', html).group(1)


def create_token_on_page(boss, username: str, name: str, **extra: str):
    data = {"token-user": username, "token-name": name, "token-reason": "for a test", **extra}
    return boss.post("/admin/tokens", data=data)


@pytest.fixture
def people(app, make_warehouse):
    make_warehouse(code="W1", name="West")
    make_warehouse(code="W2", name="East")
    with app.app_context():
        accounts.create_user("boss", ["admin"], password="pw-boss-1")
        accounts.create_user("staff", ["warehouse"], warehouses=["W1"], password="pw-staff-1")
        accounts.create_user("watcher", ["viewer"], password="pw-watch-1")


@pytest.fixture
def boss(app, people):
    return signed_in(app, "boss", "pw-boss-1")


# --- who may -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "password"), [("staff", "pw-staff-1"), ("watcher", "pw-watch-1")]
)
def test_only_admins_reach_the_user_and_token_pages(app, people, username, password):
    client = signed_in(app, username, password)
    staff_id = user_id(app, "staff")
    for path in ["/admin/users", "/admin/users/new", f"/admin/users/{staff_id}", "/admin/tokens"]:
        assert client.get(path).status_code == 403, path
    assert client.post("/admin/users/new", data={"username": "mole"}).status_code == 403
    assert client.post(f"/admin/users/{staff_id}/active", data={"reason": "x"}).status_code == 403
    r = client.post("/admin/tokens", data={"token-user": username, "token-name": "mine"})
    assert r.status_code == 403
    assert client.post("/admin/tokens/1/revoke", data={"reason": "x"}).status_code == 403
    assert "/admin/users" not in client.get("/stock").get_data(as_text=True)
    with app.app_context():
        assert [u.username for u in accounts.list_users()] == ["boss", "staff", "watcher"]
        assert accounts.tokens() == []


def test_the_pages_need_sign_in(client, people):
    for path in ["/admin/users", "/admin/users/new", "/admin/tokens", "/products/new"]:
        r = client.get(path)
        assert r.status_code == 302, path
        assert "/login" in r.location


def test_the_administration_menu_is_for_admins(boss):
    page = boss.get("/stock").get_data(as_text=True)
    assert 'data-testid="menu-administration"' in page
    assert 'href="/admin/users"' in page
    assert 'href="/admin/tokens"' in page


# --- users ---------------------------------------------------------------------------------------


def test_the_user_list_shows_roles_scope_status_and_last_sign_in(app, boss):
    signed_in(app, "staff", "pw-staff-1")
    html = boss.get("/admin/users").get_data(as_text=True)
    staff = re.search(r'<tr data-username="staff">(.*?)</tr>', html, re.S).group(1)
    assert ">warehouse<" in staff
    assert re.search(r'data-col="warehouses">W1<', staff)
    assert "active" in staff
    assert re.search(r'data-col="last_sign_in">\d{4}-\d\d-\d\d \d\d:\d\d<', staff)
    watcher = re.search(r'<tr data-username="watcher">(.*?)</tr>', html, re.S).group(1)
    assert 'data-col="last_sign_in">never<' in watcher


def test_admin_creates_a_user_who_can_sign_in_and_the_audit_log_says_who_and_why(app, boss, admin):
    r = boss.post(
        "/admin/users/new",
        data={
            "username": "lin",
            "full_name": "Lin Wei",
            "roles": ["warehouse", "viewer"],
            "warehouses": ["W2"],
            "password": "pw-lin-1234",
            "reason": "new hire in East",
        },
    )
    assert r.status_code == 302
    lin_id = user_id(app, "lin")
    assert r.location.endswith(f"/admin/users/{lin_id}")
    lin = signed_in(app, "lin", "pw-lin-1234")
    assert "W2" in lin.get("/stock/move").get_data(as_text=True)
    (entry,) = audit(admin, "user", lin_id)
    assert (entry["action"], entry["actor"], entry["reason"]) == (
        "user.create",
        "boss",
        "new hire in East",
    )
    assert entry["after"] == {
        "username": "lin",
        "roles": ["viewer", "warehouse"],
        "warehouses": ["W2"],
    }


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"roles": ["viewer"], "reason": "r"}, "username", "This field is required."),
        ({"username": "has space", "roles": ["viewer"], "reason": "r"}, "username", None),
        ({"username": "staff", "roles": ["viewer"], "reason": "r"}, "username", "taken"),
        ({"username": "x1", "reason": "r"}, "roles", "Choose at least one role."),
        (
            {"username": "x2", "roles": ["viewer"], "warehouses": ["W1"], "reason": "r"},
            "warehouses",
            "Only warehouse staff are scoped to warehouses: add the warehouse role or clear these.",
        ),
        ({"username": "x3", "roles": ["viewer"]}, "reason", "Say why, for the audit log."),
        (
            {"username": "x4", "roles": ["viewer"], "password": "short", "reason": "r"},
            "password",
            "Field must be between 8 and 128 characters long.",
        ),
        ({"username": "x5", "roles": ["emperor"], "reason": "r"}, "roles", None),
    ],
)
def test_the_user_form_marks_what_is_wrong_and_creates_nobody(app, boss, data, field, message):
    r = boss.post("/admin/users/new", data=data)
    assert r.status_code == 200
    errors = field_errors(r.get_data(as_text=True), field)
    assert errors, field
    if message is not None:
        assert errors == [message]
    with app.app_context():
        assert [u.username for u in accounts.list_users()] == ["boss", "staff", "watcher"]


def test_changing_roles_applies_to_the_users_token_at_once_and_is_audited(
    app, boss, admin, make_user, make_product
):
    make_product(sku="A")
    api = make_user("viewer", username="scanner")
    move = {"type": "receipt", "sku": "A", "warehouse": "W1", "quantity": 2}
    assert_problem(api.post("/stock/movements", json=move), 403)  # cached as a viewer now
    scanner_id = user_id(app, "scanner")
    r = boss.post(
        f"/admin/users/{scanner_id}",
        data={"roles": ["warehouse"], "warehouses": ["W1"], "reason": "moves stock now"},
    )
    assert r.status_code == 302
    assert api.post("/stock/movements", json=move).status_code == 201
    entry = audit(admin, "user", scanner_id)[0]
    assert (entry["action"], entry["actor"], entry["reason"]) == (
        "user.update",
        "boss",
        "moves stock now",
    )
    assert entry["before"] == {"roles": ["viewer"], "warehouses": []}
    assert entry["after"] == {"roles": ["warehouse"], "warehouses": ["W1"]}


def test_a_role_change_needs_a_reason(app, boss, admin):
    staff_id = user_id(app, "staff")
    r = boss.post(f"/admin/users/{staff_id}", data={"roles": ["admin"], "warehouses": []})
    assert field_errors(r.get_data(as_text=True), "reason") == ["Say why, for the audit log."]
    assert [e["action"] for e in audit(admin, "user", staff_id)] == ["user.create"]


def test_an_admin_cannot_lock_themselves_out(app, boss):
    boss_id = user_id(app, "boss")
    r = boss.post(f"/admin/users/{boss_id}", data={"roles": ["viewer"], "reason": "oops"})
    assert field_errors(r.get_data(as_text=True), "roles") == [
        "You cannot take the admin role from yourself."
    ]
    r = boss.post(f"/admin/users/{boss_id}/active", data={"reason": "oops"}, follow_redirects=True)
    assert "You cannot deactivate your own account." in r.get_data(as_text=True)
    assert boss.get("/admin/users").status_code == 200


def test_deactivating_a_user_ends_their_session_and_tokens(app, boss, admin, make_user):
    api = make_user("viewer", username="ann", password="pw-ann-1234")
    ann = signed_in(app, "ann", "pw-ann-1234")
    assert api.get("/stock").status_code == 200
    ann_id = user_id(app, "ann")
    r = boss.post(f"/admin/users/{ann_id}/active", data={"active": "0", "reason": "left"})
    assert r.status_code == 302
    assert "ann is deactivated" in boss.get(r.location).get_data(as_text=True)
    assert "/login" in ann.get("/stock").location
    assert_problem(api.get("/stock"), 401)
    entry = audit(admin, "user", ann_id)[0]
    assert (entry["action"], entry["actor"], entry["reason"]) == ("user.deactivate", "boss", "left")
    boss.post(f"/admin/users/{ann_id}/active", data={"active": "1", "reason": "back"})
    assert api.get("/stock").status_code == 200
    assert audit(admin, "user", ann_id)[0]["action"] == "user.activate"


# --- tokens --------------------------------------------------------------------------------------


def test_a_token_is_shown_once_works_until_revoked_then_is_refused(app, boss, admin):
    staff_id = user_id(app, "staff")
    r = create_token_on_page(boss, "staff", "handheld-1", **{"token-fixed_user": str(staff_id)})
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    html = r.get_data(as_text=True)
    assert "shown only this once" in html
    secret = secret_on(html)
    token = ApiClient(app.test_client(), secret)
    assert token.get("/me").json["username"] == "staff"

    # Never again: neither the user's page nor the token list shows more than its first characters.
    user_page = boss.get(f"/admin/users/{staff_id}").get_data(as_text=True)
    tokens_page = boss.get("/admin/tokens").get_data(as_text=True)
    for page in (user_page, tokens_page):
        assert "handheld-1" in page
        assert secret not in page
        assert secret[:12] + "…" in page

    (issued,) = [t for t in accounts_tokens(app) if t.name == "handheld-1"]
    r = boss.post(
        f"/admin/tokens/{issued.id}/revoke", data={"reason": "device lost", "next": "/admin/tokens"}
    )
    assert r.status_code == 302
    assert "is revoked" in boss.get(r.location).get_data(as_text=True)
    assert_problem(token.get("/me"), 401)
    row = re.search(
        rf'data-token-id="{issued.id}".*?</tr>',
        boss.get("/admin/tokens").get_data(as_text=True),
        re.S,
    )
    assert 'data-status="revoked"' in row.group(0)
    entries = audit(admin, "api_token", issued.id)
    assert [(e["action"], e["actor"], e["reason"]) for e in entries] == [
        ("token.revoke", "boss", "device lost"),
        ("token.create", "boss", "for a test"),
    ]


def accounts_tokens(app):
    with app.app_context():
        return accounts.tokens()


def test_revoking_needs_a_reason_and_keeps_the_token_working_without_one(app, boss):
    secret = secret_on(create_token_on_page(boss, "watcher", "feed").get_data(as_text=True))
    (issued,) = accounts_tokens(app)
    r = boss.post(f"/admin/tokens/{issued.id}/revoke", data={"reason": "  "}, follow_redirects=True)
    assert "Say why the token is revoked" in r.get_data(as_text=True)
    assert ApiClient(app.test_client(), secret).get("/me").status_code == 200


def test_the_token_form_marks_a_missing_name_and_reason(app, boss):
    r = boss.post("/admin/tokens", data={"token-user": "staff", "token-name": ""})
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert field_errors(html, "token-name") == ["This field is required."]
    assert field_errors(html, "token-reason") == ["Say why, for the audit log."]
    assert 'data-testid="token-secret"' not in html
    assert accounts_tokens(app) == []


@pytest.mark.parametrize("app_config", [{"AUTH_CACHE_SECONDS": 0}])
def test_last_used_is_shown_and_written_at_most_once_a_minute(app, boss, clock):
    clock.now = datetime(2026, 3, 2, 1, 59, 50, tzinfo=UTC)  # 09:59:50 in Shanghai
    secret = secret_on(create_token_on_page(boss, "watcher", "feed").get_data(as_text=True))
    token = ApiClient(app.test_client(), secret)

    def last_used() -> str:
        html = boss.get("/admin/tokens").get_data(as_text=True)
        return re.search(r'data-col="last_used">([^<]*)<', html).group(1)

    assert last_used() == "never"
    assert token.get("/me").status_code == 200
    assert last_used() == "2026-03-02 09:59"
    clock.advance(seconds=30)  # 10:00:20: within the minute, not written again
    assert token.get("/me").status_code == 200
    assert last_used() == "2026-03-02 09:59"
    clock.advance(seconds=31)  # 10:00:51: a minute later, written
    assert token.get("/me").status_code == 200
    assert last_used() == "2026-03-02 10:00"


@pytest.mark.parametrize("app_config", [{"AUTH_CACHE_SECONDS": 0}])
def test_a_token_with_a_lifetime_is_refused_after_it(app, boss, clock):
    r = create_token_on_page(boss, "watcher", "trial", **{"token-expires": "30"})
    assert "It expires on" in r.get_data(as_text=True)
    token = ApiClient(app.test_client(), secret_on(r.get_data(as_text=True)))
    assert token.get("/me").status_code == 200
    clock.advance(days=30, seconds=1)
    assert_problem(token.get("/me"), 401)
    assert 'data-status="expired"' in boss.get("/admin/tokens").get_data(as_text=True)


def test_token_pages_read_in_chinese(app, people):
    client = app.test_client()
    client.set_cookie(COOKIE, "zh_Hans_CN")
    client.post("/login", data={"username": "boss", "password": "pw-boss-1"})
    html = client.get("/admin/tokens").get_data(as_text=True)
    for text in ["API 令牌", "新建 API 令牌", "最近使用", "创建令牌", "直到吊销"]:
        assert text in html, text
    assert "Last used" not in html
    html = client.get("/admin/users").get_data(as_text=True)
    assert "最近登录" in html
    assert "新建用户" in html
    r = create_token_on_page(client, "staff", "scanner")
    assert "请立即复制密钥" in r.get_data(as_text=True)


def submission_on(html: str) -> str:
    return re.search(r'name="token-submission" type="hidden" value="([^"]+)"', html).group(1)


def test_sending_the_token_form_again_issues_no_second_token(app, boss):
    """Reloading the page that shows a new secret sends its form again."""
    form = submission_on(boss.get("/admin/tokens").get_data(as_text=True))
    first = create_token_on_page(boss, "watcher", "feed", **{"token-submission": form})
    secret = secret_on(first.get_data(as_text=True))
    again = create_token_on_page(boss, "watcher", "feed", **{"token-submission": form})
    html = again.get_data(as_text=True)
    assert again.status_code == 409
    assert 'data-testid="token-sent-again"' in html
    assert 'data-testid="token-secret"' not in html
    assert secret not in html
    assert len(accounts_tokens(app)) == 1
    # The form shown anew is another form: it issues another token.
    fresh = submission_on(boss.get("/admin/tokens").get_data(as_text=True))
    assert fresh != form
    other = create_token_on_page(boss, "watcher", "feed-2", **{"token-submission": fresh})
    assert secret_on(other.get_data(as_text=True)) != secret
    assert len(accounts_tokens(app)) == 2


def test_a_refused_token_form_keeps_its_submission_for_the_corrected_send(app, boss):
    form = submission_on(boss.get("/admin/tokens").get_data(as_text=True))
    refused = create_token_on_page(boss, "watcher", "", **{"token-submission": form})
    assert refused.status_code == 200
    assert submission_on(refused.get_data(as_text=True)) == form
    made = create_token_on_page(boss, "watcher", "feed", **{"token-submission": form})
    assert secret_on(made.get_data(as_text=True))
    assert len(accounts_tokens(app)) == 1


def test_the_form_sent_again_from_another_session_issues_no_second_token(app, boss):
    """A double click sends the form twice before the first answer has set any cookie: the
    second request knows nothing of the first, and only the database can tell."""
    form = submission_on(boss.get("/admin/tokens").get_data(as_text=True))
    first = create_token_on_page(boss, "watcher", "feed", **{"token-submission": form})
    assert secret_on(first.get_data(as_text=True))
    other_tab = signed_in(app, "boss", "pw-boss-1")
    again = create_token_on_page(other_tab, "watcher", "feed", **{"token-submission": form})
    assert again.status_code == 409
    assert 'data-testid="token-sent-again"' in again.get_data(as_text=True)
    assert len(accounts_tokens(app)) == 1


def test_the_same_form_sent_twice_at_once_issues_one_token(app, people):
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def send() -> None:
        with app.app_context():
            barrier.wait()
            try:
                accounts.create_token("watcher", "feed", form_submission="same-form")
                outcomes.append("issued")
            except accounts.TokenFormSentAgain:
                outcomes.append("refused")

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["issued", "refused"]
    assert len(accounts_tokens(app)) == 1
