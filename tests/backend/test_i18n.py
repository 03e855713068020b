"""Dutch first, English second; the compiled catalogue matches its source and covers the UI."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
NL_DIR = ROOT / "backend" / "translations" / "nl" / "LC_MESSAGES"


def _translations(catalog) -> dict:
    def key(value):  # a plural message's id and strings come back as lists from a .mo file
        return tuple(value) if isinstance(value, (list, tuple)) else value
    return {key(message.id): key(message.string) for message in catalog if message.id}


def test_compiled_catalogue_matches_the_po_file() -> None:
    with open(NL_DIR / "messages.po", "rb") as po_file:
        catalog = read_po(po_file)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    with open(NL_DIR / "messages.mo", "rb") as mo_file:
        committed = read_mo(mo_file)
    assert _translations(read_mo(compiled)) == _translations(committed), "run scripts/i18n"


def test_every_ui_string_has_a_dutch_translation(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    subprocess.run([str(Path(sys.executable).parent / "pybabel"), "extract", "-F", "babel.cfg",
                    "-k", "_l", "-k", "lazy_gettext", "-o", str(pot), "."], cwd=ROOT, check=True, capture_output=True)
    with open(pot, "rb") as pot_file:
        wanted = {message.id for message in read_po(pot_file) if message.id}
    with open(NL_DIR / "messages.po", "rb") as po_file:
        dutch = {k: v for k, v in _translations(read_po(po_file)).items() if v and all(v if isinstance(v, tuple) else [v])}
    assert sorted(wanted - set(dutch)) == [], "untranslated: run scripts/i18n and translate"


def test_dutch_by_default_english_on_request(client) -> None:
    assert "Inloggen" in client.get("/login").get_data(as_text=True)
    response = client.post("/language", data={"language": "en"})
    assert response.status_code == 303
    page = client.get("/login").get_data(as_text=True)
    assert "Log in" in page and 'lang="en"' in page


def test_a_logged_in_users_choice_is_remembered(app, client, make_user, login) -> None:
    make_user("d@example.nl", "driver")
    login("d@example.nl")
    client.post("/language", data={"language": "en"})
    fresh = app.test_client()  # another browser: no cookie, but the account remembers
    fresh.post("/login", data={"email": "d@example.nl", "password": "correct horse battery"})
    assert "My account" in fresh.get("/").get_data(as_text=True)
