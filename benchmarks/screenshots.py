"""Screenshots of every leaderboard page, for review: ``python -m benchmarks.screenshots OUT_DIR
[--submissions ROOT]`` (default: the repository's ``submissions/``).

Starts ``biobench leaderboard --theme light`` and ``--theme dark`` (one server each) and, in
headless Chromium, saves for each page (board, per-task board, the model page of one stored submission, compare
of two stored submissions, about, submit), window (wide 1400x1000, narrow 400x900) and theme two
PNGs: ``<page>-<window>-<theme>.png``, what the window shows, and ``...-full.png``, the whole
page (the window stretched to the page's height, up to ``MAX_HEIGHT``). A page that shows a
Streamlit exception, warning or error, or that scrolls sideways, is listed at the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from benchmarks import browser as web

WINDOWS = {"wide": (1400, 1000), "narrow": (400, 900)}
THEMES = ("light", "dark")
MAX_HEIGHT = 12_000
SETTLE_S = 1.5  # charts and images finish drawing after the elements appear

_STATE_JS = r"""
const busy = document.querySelector("[data-stale='true'], [data-testid='stSpinner'], "
  + "[data-testid='stSkeleton'], [data-testid='stStatusWidgetRunningIcon'], "
  + "[data-testid='stStatusWidgetRunningManIcon']") !== null;
const main = document.querySelector("[data-testid='stMain']");
const height = Math.max(document.documentElement.scrollHeight,
  main ? main.scrollHeight : 0);
const problems = [...document.querySelectorAll(
  "[data-testid='stException'], [data-testid='stAlertContentWarning'], "
  + "[data-testid='stAlertContentError']")].map(e => e.textContent.slice(0, 300));
const sideways = main ? main.scrollWidth - main.clientWidth : 0;
return {busy: busy, height: height, problems: problems, sideways: sideways,
        text: document.body.innerText};
"""


def pages(submissions: Path) -> list[tuple[str, str, list[str]]]:
    """(name, path with query, texts that say the page has rendered)."""
    from leaderboard.store import Store

    ids = Store(submissions).ids()
    out = [("board", "", ["reproduced rows in"]), ("task", "task", ["Per-task boards"])]
    if ids:
        out.append((
            "model", f"model?id={quote(ids[0], safe='')}", ["Reproduce this row"]
        ))  # fmt: skip
    if len(ids) >= 2:
        pair = "&".join(f"id={quote(i, safe='')}" for i in (ids[-1], ids[0]))
        out.append(("compare", f"compare?{pair}&compare_resamples=1000", ["Paired differences"]))
    else:
        out.append(("compare", "compare", ["Compare models"]))
    out += [("about", "about", ["How to reproduce a row"]), ("submit", "submit", ["Request queue"])]
    return out


def _settle(driver, texts: list[str], timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    state: dict = {}
    while time.monotonic() < deadline:
        state = driver.execute_script(_STATE_JS)
        if not state["busy"] and all(t in state["text"] for t in texts):
            time.sleep(SETTLE_S)
            state = driver.execute_script(_STATE_JS)
            if not state["busy"]:
                return state
        time.sleep(0.2)
    raise TimeoutError(f"page not rendered in {timeout:.0f} s (waiting for {texts})")


def shoot(url: str, out: Path, theme: str, submissions: Path, work: Path) -> list[str]:
    """Every page in every window for one server; the problems seen (page: text)."""
    problems = []
    for window, (width, height) in WINDOWS.items():
        with web.browser(work / f"profile-{theme}-{window}", size=(width, height)) as driver:
            for name, path, texts in pages(submissions):
                driver.set_window_size(width, height)
                driver.get(f"{url}/{path}")
                state = _settle(driver, texts)
                stem = f"{name}-{window}-{theme}"
                driver.save_screenshot(str(out / f"{stem}.png"))
                driver.set_window_size(width, min(state["height"] + 40, MAX_HEIGHT))
                time.sleep(SETTLE_S)
                driver.save_screenshot(str(out / f"{stem}-full.png"))
                problems += [f"{stem}: {p}" for p in state["problems"]]
                if state["sideways"] > 0:
                    problems.append(f"{stem}: the page scrolls sideways by {state['sideways']} px")
                print(f"saved {stem}.png (page {state['height']} px high)", flush=True)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.screenshots", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("out", type=Path, help="folder for the PNGs (created)")
    parser.add_argument("--submissions", type=Path, default=web.ROOT / "submissions",
                        help="submissions folder (default: the repository's submissions/)")  # fmt: skip
    args = parser.parse_args(argv)
    reason = web.missing()
    if reason:
        print(f"screenshots: {reason}", file=sys.stderr)
        return 2
    submissions = args.submissions.expanduser().resolve()
    if not submissions.is_dir():
        print(f"screenshots: --submissions {args.submissions} is not a folder", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    problems = []
    with tempfile.TemporaryDirectory(prefix="lb-screens-") as tmp:
        for theme in THEMES:
            work = Path(tmp) / theme
            with web.serve(submissions, work, theme=theme) as server:
                problems += shoot(server.url, args.out, theme, submissions, work)
    print(f"{len(THEMES) * len(WINDOWS) * 5} pages in {args.out}")
    for line in problems:
        print(f"seen: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
