"""End to end in a real headless Chromium: ``biobench leaderboard`` serves the app on 127.0.0.1,
the browser renders it (Streamlit renders client-side), and the table with its model names is on
the page; injected markup from a submission stays text. Saves a screenshot.

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install -y chromium
chromium-driver``) and ``selenium`` (dev extra); skipped with the reason when any is absent.
No browser or driver is ever downloaded (the driver path is given, Selenium Manager stays off).
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

from benchmarks import browser as web
from tests.test_leaderboard_app import INJECT, INJECT_HTML, MODELS, REFERENCE_NAME, build_store

SCREENSHOT_ENV = "BIOBENCH_SCREENSHOT_DIR"  # set to keep the screenshots (e.g. in CI artifacts)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from _serve(tmp_path_factory.mktemp("lb-server"))


@pytest.fixture
def fresh_server(tmp_path):
    """A server that has answered no request yet (a restart)."""
    yield from _serve(tmp_path / "fresh")


def _serve(tmp_path: Path):
    root = build_store(tmp_path / "submissions")
    with web.serve(root, tmp_path) as running:
        yield running.url


@pytest.fixture
def browser(tmp_path):
    reason = web.missing()
    if reason:
        pytest.skip(reason)
    with web.browser(tmp_path / "chromium-profile", downloads=tmp_path / "downloads") as driver:
        yield driver


def _wait_for_text(driver, texts: list[str], timeout: float = 60.0) -> str:
    return web.wait_for_text(driver, texts, timeout)


def _save(driver, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    driver.save_screenshot(str(path))
    keep = os.environ.get(SCREENSHOT_ENV)
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / name)
    return path


def test_leaderboard_renders_in_chromium(server, browser, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    browser.get(server)
    # the data grid mirrors its cells into an accessible table: the model names are in the DOM
    source = _wait_for_text(browser, ["stDataFrame", "glide-cell-1-0", MODELS[0][0].split("/")[1]])
    for model_id, *_ in MODELS:
        assert model_id.split("/")[1] in source
    # reproduced rows are ranked, published ones listed apart; the category chart has drawn
    # (its legend once named both statuses; it now names the categories of its bars)
    assert "Published numbers" in source and "reproduced" in source
    _wait_for_text(browser, ["category average (%)"])
    time.sleep(1.5)  # let the charts finish drawing before the screenshot
    shot = _save(browser, tmp_path, "leaderboard.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000

    # untrusted text stays text: no element from the injected markup, no script ran
    assert not browser.find_elements(By.CSS_SELECTOR, "img[src='x']")
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - the access itself raises when no alert

    browser.get(f"{server}/model?id=org-x__injection/run-1")
    source = _wait_for_text(browser, ["stCode", "Contamination notes"])
    assert not browser.find_elements(By.CSS_SELECTOR, "img[src='x']")
    assert not browser.find_elements(By.XPATH, "//script[contains(., 'alert(')]")
    texts = [el.text for el in browser.find_elements(By.CSS_SELECTOR, "[data-testid='stText']")]
    assert INJECT in texts
    _save(browser, tmp_path, "model-page.png")


def test_reported_row_page_in_chromium(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    from leaderboard import views

    browser.get(server)
    _wait_for_text(browser, ["glide-cell-1-0", "Published numbers"])
    browser.find_element(By.XPATH, "//summary[contains(., 'Published numbers')]").click()
    time.sleep(1.5)  # the expander's table renders when opened
    cells = [  # the accessible mirror of the grid is hidden: read textContent, not .text
        el.get_attribute("textContent")
        for el in browser.find_elements(By.CSS_SELECTOR, "td[role='gridcell']")
    ]
    wanted = "&name=" + quote(REFERENCE_NAME, safe="")
    ref_link = next(c for c in cells if c.startswith("model?id=reference") and c.endswith(wanted))
    browser.get(f"{server}/{ref_link}")
    _wait_for_text(browser, ["Scores as published"])
    header = browser.find_element(By.CSS_SELECTOR, "h2").text
    assert header == REFERENCE_NAME  # shown literally, escapes removed by the renderer
    assert INJECT_HTML in header and not browser.find_elements(By.CSS_SELECTOR, "img[src='x']")
    assert views.escape_markdown(REFERENCE_NAME) not in header  # no stray backslashes


def _listening_addresses(port: int) -> set[str]:
    """Local IPv4/IPv6 addresses (hex, as the kernel prints them) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_server_listens_on_loopback_only(server):
    port = int(server.rsplit(":", 1)[1])
    with urllib.request.urlopen(f"{server}/_stcore/health", timeout=5) as response:
        assert response.read().strip() == b"ok"
    if not Path("/proc/net/tcp").is_file():
        pytest.skip("no /proc/net/tcp to read listening sockets from")
    addresses = _listening_addresses(port)
    assert addresses, f"nothing listens on port {port}"
    assert addresses == {"0100007F"}, f"listening on {addresses}, not only on 127.0.0.1"


def test_fresh_server_deep_link_renders_the_page(fresh_server, browser, tmp_path):
    """The first request after a start is a deep link: the page itself renders, with the app's
    navigation (page titles), not a list of script file names."""
    from selenium.webdriver.common.by import By

    browser.get(f"{fresh_server}/model?id=org-a__alpha-7b/run-1")
    _wait_for_text(browser, ["stCode", "Reproduce this row", "Per-task results"])
    nav = [el.text for el in browser.find_elements(By.CSS_SELECTOR, "[data-testid='stSidebar'] a")]
    assert "Leaderboard" in " ".join(nav) and "Compare" in " ".join(nav), nav
    assert not any(name.strip() in ("app", "board", "shared", "about") for name in nav), nav
    assert browser.find_element(By.CSS_SELECTOR, "h2").text == "org-a/alpha-7b"
    _save(browser, tmp_path, "deep-link-model.png")
    browser.get(f"{fresh_server}/board?types=base")
    _wait_for_text(browser, ["glide-cell-1-0", "alpha-7b"])
    source = browser.page_source
    assert "gamma-13b" not in source.split("Published numbers")[0]  # the URL filter applied


# How far each of the page's scrolling boxes scrolls sideways: the document and Streamlit's own
# containers (the main area ``stMain`` is the box that scrolls, so an element wider than the
# window widens it, not the document).
_SIDEWAYS_JS = """
const boxes = [["document", document.scrollingElement || document.documentElement]];
for (const id of ["stApp", "stAppViewContainer", "stMain", "stMainBlockContainer"]) {
  for (const el of document.querySelectorAll(`[data-testid='${id}']`)) boxes.push([id, el]);
}
const out = {};
for (const [name, el] of boxes) out[name] = Math.max(out[name] || 0, el.scrollWidth - el.clientWidth);
return out;
"""


def test_narrow_window_keeps_model_and_average_readable(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.set_window_size(400, 900)
    browser.get(server)
    _wait_for_text(browser, ["glide-cell-1-0", MODELS[0][0].split("/")[1], "stVegaLiteChart"])
    time.sleep(1.5)  # the charts finish drawing (their width is set once drawn)
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 420, f"the page scrolls sideways: {width} px"
    sideways = browser.execute_script(_SIDEWAYS_JS)
    assert "stMain" in sideways, sideways  # Streamlit's scrolling container was found
    wide = {name: px for name, px in sideways.items() if px > 1}
    if wide:
        _save(browser, tmp_path, "leaderboard-400px-sideways.png")
    assert not wide, f"scrolls sideways by (px): {wide}"
    main = browser.find_element(By.CSS_SELECTOR, "[data-testid='stMain']")
    charts = browser.find_elements(By.CSS_SELECTOR, "[data-testid='stVegaLiteChart']")
    assert charts
    for chart in charts:
        if chart.is_displayed():  # the other tab's chart is hidden
            assert chart.size["width"] <= main.size["width"], (chart.size, main.size)
    grid = browser.find_element(By.CSS_SELECTOR, "[data-testid='stDataFrame']")
    assert grid.size["width"] <= 400
    headers = [el.get_attribute("textContent") for el in
               browser.find_elements(By.CSS_SELECTOR, "th[role='columnheader']")]  # fmt: skip
    assert headers.index("Win rate") <= 2  # right after the pinned rank and model columns
    browser.execute_script("arguments[0].scrollIntoView();", grid)
    time.sleep(0.5)
    _save(browser, tmp_path, "leaderboard-400px.png")


def test_csv_download_of_the_current_view(server, browser, tmp_path):
    import csv

    from selenium.webdriver.common.by import By

    browser.get(f"{server}/board?types=base")
    _wait_for_text(browser, ["glide-cell-1-0", "Download CSV"])
    button = next(
        b
        for b in browser.find_elements(By.CSS_SELECTOR, "[data-testid='stDownloadButton'] button")
        if "Download CSV" in b.text
    )
    browser.execute_script("arguments[0].scrollIntoView();", button)
    time.sleep(0.5)
    dialogs = browser.find_elements(By.CSS_SELECTOR, "[data-testid='stDialog']")
    if dialogs:
        _save(browser, tmp_path, "download-dialog.png")
        raise AssertionError("a dialog covers the page: " + dialogs[0].text[:500])
    button.click()
    target = tmp_path / "downloads" / "bioinstruct-leaderboard.csv"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not target.is_file():
        time.sleep(0.3)
    assert target.is_file(), list((tmp_path / "downloads").iterdir())
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert {r["model"] for r in rows if r["status"] == "reproduced"} == {
        "org-a/alpha-7b", "org-b/beta-135m"}  # fmt: skip
    assert all(float(r["bio_pubmedqa_ci_low"]) <= float(r["bio_pubmedqa"]) for r in rows
               if r["status"] == "reproduced")  # fmt: skip


# --- the ranking, per-task boards and Compare's verdict, as a visitor sees them ---------------

_ROWS_JS = r"""
const grid = document.querySelectorAll("[data-testid='stDataFrame']")[arguments[0]];
if (!grid) return null;
const heads = [...grid.querySelectorAll("th[role='columnheader']")].map(h => h.textContent);
const rows = [...grid.querySelectorAll("tr")].map(
  r => [...r.querySelectorAll("td[role='gridcell']")].map(c => c.textContent)
).filter(r => r.length);
return {heads: heads, rows: rows};
"""


def _grid(driver, index: int = 0, timeout: float = 60.0) -> list[dict]:
    """Rows of the index-th data grid as {header: cell text} (the grid's accessible mirror)."""
    deadline = time.monotonic() + timeout
    while True:
        found = driver.execute_script(_ROWS_JS, index)
        if found and found["rows"] or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert found and found["rows"], "no grid rows"
    return [dict(zip(found["heads"], row, strict=False)) for row in found["rows"]]


def _name(cell: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(cell).query)["name"][0]


def test_one_ranking_on_a_heterogeneous_store_and_ranks_kept_under_search(
    server, browser, tmp_path
):
    """The test store mixes complete runs with a QA-only run of fewer items: one table ranks
    them all; a search (typed, then as a shared link) shows rows with the same ranks."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(server)
    _wait_for_text(browser, ["glide-cell-1-0", "in one ranking", "Rank range"])
    rows = _grid(browser)
    ranks = {_name(r["Model"]): r["Rank"] for r in rows}
    assert set(ranks) == {m[0] for m in MODELS} | {"org-x/injection"}
    assert ranks["org-a/alpha-7b"] == "1"
    coverage = {_name(r["Model"]): r["Coverage"] for r in rows}
    assert coverage["org-x/injection"] == "6/20" and coverage["org-a/alpha-7b"] == "20/20"
    _save(browser, tmp_path, "ranking.png")

    box = browser.find_element(By.CSS_SELECTOR, "input[aria-label='Search model']")
    box.send_keys("beta", Keys.ENTER)
    web.wait_for_text(browser, ["beta-135m"], 30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        shown = {_name(r["Model"]): r["Rank"] for r in _grid(browser)}
        if set(shown) == {"org-b/beta-135m", "org-b/beta-360m-bio"}:
            break
        time.sleep(0.3)
    assert shown == {n: ranks[n] for n in shown} and set(shown) == {
        "org-b/beta-135m", "org-b/beta-360m-bio"}  # fmt: skip
    assert "search=beta" in browser.current_url
    browser.get(browser.current_url)  # the shared link
    _wait_for_text(browser, ["glide-cell-1-0", "beta-360m-bio"])
    again = {_name(r["Model"]): r["Rank"] for r in _grid(browser)}
    assert again == shown


def test_per_task_board_in_chromium(server, browser, tmp_path):
    browser.get(f"{server}/task?task=bio_medqa")
    _wait_for_text(browser, ["Per-task boards", "glide-cell-1-0", "Win rate", "MedQA"])
    rows = _grid(browser)
    assert {_name(r["Model"]) for r in rows} == {m[0] for m in MODELS} | {"org-x/injection"}
    assert rows[0]["Rank"] == "1" and all(r["95% CI"].startswith("[") for r in rows)
    items = {_name(r["Model"]): r["Items"] for r in rows}
    assert items["org-x/injection"] == "20" and items["org-a/alpha-7b"] == "40"
    _save(browser, tmp_path, "task-board.png")


def test_compare_verdict_and_discordant_items_in_chromium(server, browser, tmp_path):
    a, b = "org-b__beta-135m/run-1", "org-a__alpha-7b/run-1"
    browser.get(f"{server}/compare?compare_pick={quote(a)}&compare_pick={quote(b)}"
                "&compare_resamples=1000")  # fmt: skip
    source = _wait_for_text(
        browser, ["Verdict", "alpha-7b is better on", "Items where the two runs disagree"], 120
    )
    assert "points [+" in source and "Holm p" in source
    assert "B − A" in source
    rows = _grid(browser, index=2)  # tests, scores, discordant items
    assert rows and {r["right"] for r in rows} <= {"A", "B"}
    _save(browser, tmp_path, "compare-verdict.png")
