"""What a person is told when Ritbox refuses (backend/errors.py): one translation path, and one
handler for a refusal that no view answers itself (a 400 in the reader's language, JSON under
/api/, never a 500)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from backend.errors import N_, UserError

BACKEND = Path(__file__).resolve().parents[2] / "backend"
TRANSLATORS = {"_", "gettext", "_l", "lazy_gettext"}


class _Refused(UserError):
    pass


@pytest.fixture
def refusing_app(app):
    """The app with two routes that raise a UserError no view catches (added before any request)."""
    def refuse():
        raise _Refused(N_("Nothing to change."))

    app.add_url_rule("/test-refusal", "test_refusal", refuse)
    app.add_url_rule("/api/v1/test-refusal", "test_api_refusal", refuse)
    return app


def test_a_refusal_no_view_answers_is_a_dutch_400_page(refusing_app) -> None:
    answer = refusing_app.test_client().get("/test-refusal")
    assert answer.status_code == 400 and answer.mimetype == "text/html"
    page = answer.get_data(as_text=True)
    assert "Er is niets te wijzigen." in page and "Dit kan niet" in page
    assert "Nothing to change" not in page


def test_a_refusal_under_the_api_is_json(refusing_app) -> None:
    answer = refusing_app.test_client().get("/api/v1/test-refusal")
    assert answer.status_code == 400
    assert answer.get_json() == {"error": "refused", "message": "Nothing to change."}


def test_views_translate_a_refusal_through_its_own_method() -> None:
    """`exc.translated()` is the one way a refusal reaches a page: no module outside a
    `translated` method passes an error's msgid to gettext itself (the copies it replaced)."""
    found = []
    for path in sorted(BACKEND.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        exempt = {id(node) for function in ast.walk(tree)
                  if isinstance(function, ast.FunctionDef) and function.name == "translated"
                  for node in ast.walk(function)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and id(node) not in exempt \
                    and getattr(node.func, "id", getattr(node.func, "attr", None)) in TRANSLATORS \
                    and node.args and isinstance(node.args[0], ast.Attribute) and node.args[0].attr == "msgid":
                found.append(f"{path.relative_to(BACKEND)}:{node.lineno}")
    assert found == []
