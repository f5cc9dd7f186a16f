"""``biobench leaderboard``: serve the Streamlit leaderboard on 127.0.0.1.

Runs ``streamlit run leaderboard/app.py`` bound to the loopback interface, headless (no browser
is opened, no usage statistics are sent). The submissions folder is handed to the app in the
``BIOBENCH_SUBMISSIONS_DIR`` environment variable, which ``streamlit run leaderboard/app.py``
also honours when started by hand.

Before it serves, the command reads the store once (:func:`warm`): the loader's disk cache is
written and the page modules (pandas, pyarrow, the views) are imported in the server's own
process, so the first visitor of a fresh server waits for neither. Streamlit then runs in this
process (its own ``streamlit run`` command line, unchanged).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from leaderboard.store import ROOT_ENV as SUBMISSIONS_ENV
from runners.cli import Parser

log = logging.getLogger(__name__)

APP = Path(__file__).resolve().parents[1] / "leaderboard" / "app.py"
DEFAULT_PORT = 8501
THEMES = ("light", "dark")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="biobench leaderboard",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port on 127.0.0.1")
    parser.add_argument(
        "--submissions",
        type=Path,
        default=None,
        help="submissions folder (default: the repository's submissions/)",
    )
    parser.add_argument(
        "--theme",
        choices=THEMES,
        default=None,
        help="colour theme, Streamlit's theme.base (default: follow each visitor's system setting)",
    )
    return parser


def streamlit_command(port: int, theme: str | None = None, script: Path = APP) -> list[str]:
    command = [
        sys.executable, "-m", "streamlit", "run", str(script),
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--client.toolbarMode", "viewer",
    ]  # fmt: skip
    if theme is not None:
        command += ["--theme.base", theme]
    return command


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 1 <= args.port <= 65535:
        print(
            f"biobench leaderboard: --port {args.port} is not a TCP port (1-65535)", file=sys.stderr
        )
        return 2
    if args.submissions is not None:
        folder = args.submissions.expanduser().resolve()
        if not folder.is_dir():
            print(
                f"biobench leaderboard: --submissions {args.submissions} is not a folder; "
                "pass the folder `biobench submit` stores into (default: submissions/)",
                file=sys.stderr,
            )
            return 2
        os.environ[SUBMISSIONS_ENV] = str(folder)
    command = streamlit_command(args.port, args.theme)
    warm()
    print(f"leaderboard on http://127.0.0.1:{args.port}  (Ctrl-C stops it)", flush=True)
    log.info("running: %s", " ".join(command))
    from streamlit.web import cli as streamlit_cli

    # ``streamlit run ...`` in this process; Streamlit handles Ctrl-C and SIGTERM itself
    return streamlit_cli.main(args=command[3:], prog_name="streamlit", standalone_mode=False) or 0


def warm() -> None:
    """Import what every page needs, read the store (default: ``$BIOBENCH_SUBMISSIONS_DIR``) into
    the loader's disk cache, and compute its tables and the board's default view in this process
    (:func:`leaderboard.screens.shared.prepare`), where Streamlit will serve the pages. A store
    that cannot be read is the app's to report, per file; nothing here stops the server from
    starting."""
    started = time.perf_counter()
    try:
        from leaderboard.screens import shared  # streamlit, pandas, pyarrow, the registry

        count = shared.prepare()
    except Exception as exc:  # noqa: BLE001 - the pages show what is wrong, file by file
        log.warning("could not read the submissions before serving: %s", exc)
        return
    print(f"read {count} submissions in {time.perf_counter() - started:.1f} s", flush=True)
