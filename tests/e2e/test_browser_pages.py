"""Phones and keyboards, on every page of every role (followed from the navigation and the links
on each page, over the realistic data of tests/backend/crawl_support.py): at 390x844 nothing
scrolls sideways, and axe-core finds no violation at 390x844 nor at 1366x768 (one crawl checks both). The header collapses
to a menu button on a phone, focus is visible at 3:1 or more, the manifest is served."""
from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.backend.crawl_support import ROLE_EMAILS, build_scene, follow
from tests.e2e.browser_support import log_in

pytestmark = [pytest.mark.browser,
              # one database is enough for layout; the data model is covered on both elsewhere
              pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}
START = ["/", "/no-such-page"]


@pytest.fixture
def scene(app, client, make_user, tmp_path):
    app.config["SEALING_KEY_PATH"] = str(tmp_path / "sealing_keys.pem")
    return build_scene(app, client, make_user)


def _crawl(app, page, base: str, check) -> list[str]:
    def links_of(url: str):
        try:
            response = page.goto(base + url)
        except Exception:  # noqa: BLE001 - a download (CSV, XLSX, PDF) is not a page
            return None
        if response is None or "text/html" not in (response.headers.get("content-type") or ""):
            return None
        page.wait_for_load_state("load")
        check(url)
        return page.locator("a[href]:not([download])").evaluate_all("as => as.map(a => a.getAttribute('href'))")

    return follow(app, START, links_of)


@pytest.mark.parametrize("role", list(ROLE_EMAILS))
def test_no_page_scrolls_sideways_on_a_phone_and_axe_passes_at_both_sizes(app, live_server, page, scene, axe, role,
                                                                          artifacts_dir) -> None:
    # One crawl per role checks both sizes on each page: the scene and the crawl are the costly part.
    page.set_viewport_size(PHONE)
    log_in(page, live_server, ROLE_EMAILS[role])
    page.wait_for_url(f"{live_server}/")
    problems: dict[str, list[str]] = {}

    shots = []

    def check(url: str) -> None:
        page.set_viewport_size(PHONE)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        found = [f"scrollWidth {width}"] if width > PHONE["width"] else []
        found += axe(page)
        name = url.strip("/").replace("/", "_").replace("?", "_") or "home"
        if found:
            page.screenshot(path=str(artifacts_dir / f"phone-overflow-{role}-{name}.png"), full_page=True)
        elif len(shots) < 4:  # what a phone shows: the first pages of the role's menu
            shots.append(name)
            page.screenshot(path=str(artifacts_dir / f"phone-{role}-{name}.png"), full_page=True)
        page.set_viewport_size(DESKTOP)
        found += [f"{DESKTOP['width']} px: {problem}" for problem in axe(page)]
        if found:
            problems[url] = found

    visited = _crawl(app, page, live_server, check)
    assert len(visited) >= 3, visited
    assert problems == {}, json.dumps(problems, indent=1)


def test_the_header_collapses_to_a_menu_on_a_phone(live_server, page, make_user, artifacts_dir) -> None:
    make_user("driver@example.nl", "driver", name="Daan")
    page.set_viewport_size(PHONE)
    log_in(page, live_server, "driver@example.nl")
    page.get_by_role("heading", name="Welkom, Daan").wait_for()
    header = page.locator("header.site-header").bounding_box()
    assert header["height"] <= 80, header
    navigation = page.get_by_role("navigation", name="Hoofdmenu")
    expect(navigation).to_be_hidden()
    page.screenshot(path=str(artifacts_dir / "phone-header-closed-driver.png"))
    page.get_by_text("Menu", exact=True).click()  # a <details> summary: no script involved
    expect(navigation).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "phone-header-open-driver.png"))
    navigation.get_by_role("link", name="Mijn ritten").click()
    page.get_by_role("heading", name="Mijn ritten").wait_for()
    page.set_viewport_size(DESKTOP)
    expect(navigation).to_be_visible()  # a wide screen shows the menu without the button
    expect(page.get_by_text("Menu", exact=True)).to_be_hidden()


CONTRAST = """el => {
  const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
                               return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  let bg = null;
  for (let node = el.parentElement; node && !bg; node = node.parentElement) {
    const c = rgb(getComputedStyle(node).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] === 1)) bg = c.slice(0, 3);
  }
  bg = bg || [255, 255, 255];
  const style = getComputedStyle(el);
  if (style.outlineStyle === 'none' || parseFloat(style.outlineWidth) < 2) return 0;
  const ring = rgb(style.outlineColor).slice(0, 3);
  const [hi, lo] = [lum(ring), lum(bg)].sort((a, b) => b - a);
  return (hi + 0.05) / (lo + 0.05);
}"""


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_focus_is_visible_at_three_to_one(live_server, page, make_user, viewport) -> None:
    make_user("driver@example.nl", "driver", name="Daan")
    page.set_viewport_size(viewport)
    log_in(page, live_server, "driver@example.nl")
    page.get_by_role("heading", name="Welkom, Daan").wait_for()
    ratios = {}
    for _ in range(12):
        page.keyboard.press("Tab")
        focused = page.evaluate_handle("() => document.activeElement")
        name = page.evaluate("el => el.tagName + ' ' + (el.textContent || el.name || '').trim().slice(0, 30)", focused)
        if not name.startswith("BODY"):  # past the last element, before the first one again
            ratios[name] = round(page.evaluate(CONTRAST, focused), 2)
    assert len(ratios) >= 4, ratios
    assert min(ratios.values()) >= 3, ratios


def test_the_web_app_manifest_is_linked_and_served(live_server, page, make_user) -> None:
    page.goto(f"{live_server}/login")
    href = page.locator("link[rel=manifest]").get_attribute("href")
    response = page.request.get(live_server + href)
    assert response.ok
    manifest = response.json()
    assert manifest["lang"] == "nl" and manifest["display"] == "standalone"
    assert "rittenregistratie" in manifest["name"]
    sizes = set()
    for icon in manifest["icons"]:
        image = page.request.get(live_server + icon["src"])
        assert image.ok and image.headers["content-type"] == "image/png"
        body = image.body()
        assert body[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(body[16:20], "big"), int.from_bytes(body[20:24], "big")
        assert f"{width}x{height}" == icon["sizes"]
        sizes.add(icon["sizes"])
    assert {"192x192", "512x512"} <= sizes
