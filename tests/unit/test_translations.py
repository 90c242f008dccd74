"""Every text the web UI shows has its Simplified Chinese translation in the catalog."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "accounts", "inventory", "forecasting", "procurement", "logistics")
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "N_": None}


def source_messages() -> dict[str, str]:
    found: dict[str, str] = {}
    for package in PACKAGES:
        for filename, lineno, message, _comments, _context in extract_from_dir(
            ROOT / package, METHODS, keywords=KEYWORDS
        ):
            key = message if isinstance(message, str) else message[0]
            found.setdefault(key, f"{package}/{filename}:{lineno}")
    return found


def test_every_ui_text_is_translated_to_simplified_chinese():
    with (ROOT / "translations/zh_Hans_CN/LC_MESSAGES/messages.po").open("rb") as po:
        catalog = read_po(po, locale="zh_Hans_CN")
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0]): m.string
        for m in catalog
        if m.id and (m.string if isinstance(m.string, str) else all(m.string))
    }
    found = source_messages()
    assert len(found) > 500
    missing = {text: where for text, where in found.items() if text not in translated}
    assert missing == {}


def test_placeholders_survive_translation():
    with (ROOT / "translations/zh_Hans_CN/LC_MESSAGES/messages.po").open("rb") as po:
        catalog = read_po(po, locale="zh_Hans_CN")
    import re

    for m in catalog:
        if not m.id or not isinstance(m.id, str) or not m.string:
            continue
        assert sorted(re.findall(r"%\(\w+\)s", m.id)) == sorted(
            re.findall(r"%\(\w+\)s", m.string)
        ), m.id
