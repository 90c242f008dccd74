"""The web UI in English and Simplified Chinese, numbers and times as each reader expects them.

Pages mark their text with ``_()`` (Jinja and Python alike) and format values with the filters
below. The language is, in this order: the one saved on the signed-in person's account, the
reader's choice kept in a cookie (so signed-out pages such as the login page follow it too), the
browser's ``Accept-Language``, else English. The switcher in the page footer sets the cookie and,
for a signed-in person, saves the choice on their account (``accounts`` hands this module the two
functions that read and write it, as core knows no feature). Times are stored in UTC and shown in
``DISPLAY_TIMEZONE`` (Asia/Shanghai unless set). API responses and problem ``detail`` texts stay
English: programs read those.

Catalogs live in ``translations/`` as ``.po`` files; ``make install`` compiles them, and the app
compiles any that are missing or older than their ``.po`` when it starts, so a checkout always
serves its own translations.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, Response, current_app, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import Babel, format_date, format_datetime, format_decimal, get_locale
from werkzeug.wrappers import Response as BaseResponse

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
#: Locale codes as Babel spells them, and what the switcher shows for each.
LANGUAGES = {"en": "English", "zh_Hans_CN": "简体中文"}
COOKIE = "stockroom_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600

#: Given by ``accounts``: the signed-in person's saved language (or None), and how to save one.
AccountLanguage = Callable[[], str | None]
SaveLanguage = Callable[[str], None]

babel = Babel()


def N_(message: str) -> str:  # noqa: N802 (gettext's name for "mark for translation only")
    """Mark a string for the catalog where it is defined; it is translated where it is shown."""
    return message


def compile_catalogs(root: Path = TRANSLATIONS) -> list[Path]:
    """Write each ``messages.mo`` whose ``.po`` is newer; returns what it wrote."""
    written = []
    for po in root.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name)
        with mo.open("wb") as target:
            write_mo(target, catalog, use_fuzzy=False)
        written.append(mo)
    return written


def select_locale() -> str:
    account_language: AccountLanguage | None = current_app.extensions.get(
        "stockroom.account_language"
    )
    saved = account_language() if account_language is not None else None
    if saved in LANGUAGES:
        return saved  # type: ignore[return-value]
    chosen = request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    best = request.accept_languages.best_match(["en", "zh", "zh-CN", "zh-Hans"], default="en")
    return "zh_Hans_CN" if best and best.startswith("zh") else "en"


def _number(value: Any, places: int | None = None) -> str:
    if value is None:
        return "—"
    if places is not None:
        return format_decimal(value, format="#,##0." + "0" * places if places else "#,##0")
    return format_decimal(value)


def _datetime(value: datetime | None, pattern: str = "yyyy-MM-dd HH:mm") -> str:
    return "—" if value is None else format_datetime(value, pattern)


def _date(value: date | None) -> str:
    return "—" if value is None else format_date(value, "medium")


def _money(value: Decimal | float | str | None, places: int = 2) -> str:
    if value is None:
        return "–"
    pattern = "#,##0." + "0" * places if places else "#,##0"
    return format_decimal(Decimal(str(value)), format=pattern)


def remember_language(response: BaseResponse, language: str) -> None:
    """The language cookie, for a year: what signed-out pages are shown in."""
    response.set_cookie(COOKIE, language, max_age=COOKIE_MAX_AGE, samesite="Lax", httponly=True)


def switch_language() -> ResponseReturnValue:
    """Remember the reader's language and go back where they were.

    The footer posts here (with its CSRF token): the choice goes into the cookie and, when
    someone is signed in, onto their account. A plain GET (an old bookmark) only sets the
    cookie: a link must not be able to change an account.
    """
    lang = request.values.get("lang", "en")
    target = request.values.get("next") or url_for("web.index")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("web.index")
    response: Response = redirect(target)  # type: ignore[assignment]
    if lang in LANGUAGES:
        remember_language(response, lang)
        save: SaveLanguage | None = current_app.extensions.get("stockroom.save_language")
        if request.method == "POST" and save is not None:
            save(lang)
    return response


def init_app(
    app: Flask,
    *,
    account_language: AccountLanguage | None = None,
    save_language: SaveLanguage | None = None,
) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    app.config.setdefault(
        "BABEL_DEFAULT_TIMEZONE", app.config.get("DISPLAY_TIMEZONE", "Asia/Shanghai")
    )
    compile_catalogs(Path(app.config["BABEL_TRANSLATION_DIRECTORIES"]))
    if account_language is not None:
        app.extensions["stockroom.account_language"] = account_language
    if save_language is not None:
        app.extensions["stockroom.save_language"] = save_language
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.filters.update(number=_number, datetime=_datetime, date=_date, money=_money)
    app.jinja_env.globals.update(languages=LANGUAGES, current_locale=lambda: str(get_locale()))
    app.add_url_rule("/language", "language", switch_language, methods=["GET", "POST"])
