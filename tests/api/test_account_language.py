"""The UI language is saved on the signed-in person's account and follows them to any browser.

Order: the account's language, then the ``stockroom_lang`` cookie (signed-out pages such as the
login page), then ``Accept-Language``, then English.
"""

from __future__ import annotations

import pytest

from accounts import services as accounts
from core.i18n import COOKIE

ZH = "zh_Hans_CN"
CHINESE_STOCK_TITLE = '<h1 class="h3 mb-0">库存</h1>'
ENGLISH_STOCK_TITLE = '<h1 class="h3 mb-0">Stock</h1>'


@pytest.fixture
def lin(app):
    with app.app_context():
        accounts.create_user("lin", ["viewer"], password="pw-lin-1234")


def sign_in(client, username: str = "lin", password: str = "pw-lin-1234"):
    r = client.post("/login", data={"username": username, "password": password})
    assert r.status_code == 302, r.get_data(as_text=True)
    return r


def stock_page(client, **headers: str) -> str:
    r = client.get("/stock", headers=headers)
    assert r.status_code == 200
    return r.get_data(as_text=True)


def test_the_switcher_saves_the_language_on_the_account_for_the_next_request(app, lin):
    first = app.test_client()
    sign_in(first)
    assert ENGLISH_STOCK_TITLE in stock_page(first)
    r = first.post("/language", data={"lang": ZH, "next": "/stock?sku=A"})
    assert r.status_code == 302
    assert r.location.endswith("/stock?sku=A")
    assert CHINESE_STOCK_TITLE in stock_page(first)

    # Another browser, which asks for English and has no cookie: the account decides.
    other = app.test_client()
    sign_in(other)
    other.delete_cookie(COOKIE)
    assert CHINESE_STOCK_TITLE in stock_page(other, **{"Accept-Language": "en-US,en;q=0.9"})


def test_the_account_language_beats_the_cookie_and_accept_language(app, lin):
    with app.app_context():
        user = next(u for u in accounts.list_users() if u.username == "lin")
        accounts.set_language(user.id, ZH)
    client = app.test_client()
    sign_in(client)
    client.set_cookie(COOKIE, "en")
    assert CHINESE_STOCK_TITLE in stock_page(client, **{"Accept-Language": "en"})


def test_without_a_saved_language_the_cookie_then_accept_language_decide(app, lin):
    client = app.test_client()
    sign_in(client)
    assert CHINESE_STOCK_TITLE in stock_page(client, **{"Accept-Language": "zh-CN,zh;q=0.9"})
    client.set_cookie(COOKIE, "en")
    assert ENGLISH_STOCK_TITLE in stock_page(client, **{"Accept-Language": "zh-CN,zh;q=0.9"})


def test_signed_out_pages_follow_the_cookie_and_signing_in_sets_it_to_the_accounts(app, lin):
    client = app.test_client()
    client.set_cookie(COOKIE, ZH)
    login = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'lang="zh-CN"' in login
    with app.app_context():
        user = next(u for u in accounts.list_users() if u.username == "lin")
        accounts.set_language(user.id, "en")
    r = sign_in(client)
    assert f"{COOKIE}=en" in r.headers["Set-Cookie"]
    client.post("/logout")
    login = client.get("/login", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert 'lang="en"' in login
    assert "Sign in" in login


def test_a_plain_link_sets_only_the_cookie_never_the_account(app, lin):
    client = app.test_client()
    sign_in(client)
    client.post("/language", data={"lang": "en"})
    r = client.get(f"/language?lang={ZH}&next=/stock")
    assert r.status_code == 302
    with app.app_context():
        user = next(u for u in accounts.list_users() if u.username == "lin")
    assert user.language == "en"
    assert ENGLISH_STOCK_TITLE in stock_page(client)


def test_an_unknown_language_changes_nothing(app, lin):
    client = app.test_client()
    sign_in(client)
    client.post("/language", data={"lang": "klingon"})
    with app.app_context():
        user = next(u for u in accounts.list_users() if u.username == "lin")
    assert user.language is None
    assert ENGLISH_STOCK_TITLE in stock_page(client)


def test_the_footer_switcher_posts(app, lin):
    client = app.test_client()
    sign_in(client)
    html = stock_page(client)
    switcher = html[html.index('data-testid="language-switcher"') :]
    assert 'method="post" action="/language"' in switcher
    assert f'name="lang" value="{ZH}"' in switcher
    assert 'data-lang="zh_Hans_CN"' in switcher


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_saving_the_language_needs_the_csrf_token(app, lin):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post("/login", data={"username": "lin", "password": "pw-lin-1234", "csrf_token": token})
    assert client.post("/language", data={"lang": ZH}).status_code == 400
    with app.app_context():
        user = next(u for u in accounts.list_users() if u.username == "lin")
    assert user.language is None
