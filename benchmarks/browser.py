"""A leaderboard server and a headless Chromium for the browser test, the browser benchmark and
the screenshot script.

:func:`serve` starts ``python -m runners.cli leaderboard --port P --submissions ROOT`` on a free
loopback port (its own loader cache folder, so the server starts cold) and waits for Streamlit's
health check; :func:`chrome` opens Debian's ``chromium`` through its ``chromedriver``: the paths
are given, so Selenium Manager never downloads a browser or a driver (``SE_OFFLINE``), and
downloads land in a folder of the caller's. :func:`missing` says why either cannot run here.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
INSTALL_HINT = "apt-get install -y chromium chromium-driver"
CHROMIUM_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--hide-scrollbars")  # fmt: skip


def missing() -> str | None:
    """Why no browser can run here (None: chromium, chromedriver and selenium are all present)."""
    if not CHROMIUM or not DRIVER:
        return f"Debian chromium / chromium-driver not installed ({INSTALL_HINT})"
    try:
        import selenium.webdriver  # noqa: F401
    except ImportError:
        return "selenium not installed (dev extra)"
    return None


def chromium_version() -> str:
    """``Chromium 1xx.0...`` as the browser prints it ('' when it cannot be run)."""
    if not CHROMIUM:
        return ""
    try:
        done = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    """Until Streamlit's ``/_stcore/health`` answers ``ok`` (raises if the server exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the leaderboard exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not become healthy in {timeout:.0f} s")


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log: Path


def stop(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # the runner exec'd Streamlit: this is Streamlit
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def _serving(command: list[str], env: dict, workdir: Path, port: int, timeout: float):
    log_path = workdir / f"server-{port}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, proc, timeout)
            yield Server(url, proc, log_path)
        finally:
            stop(proc)


def _env(**extra: str) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", SE_OFFLINE="true", **extra)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    return env


@contextmanager
def serve(
    submissions: Path,
    workdir: Path,
    *,
    theme: str | None = None,
    cache: Path | None = None,
    timeout: float = 90.0,
) -> Iterator[Server]:
    """A fresh ``biobench leaderboard`` over ``submissions``; its log and (by default) its loader
    cache go under ``workdir``. ``theme``: ``light`` or ``dark`` (default: Streamlit's own)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [sys.executable, "-m", "runners.cli", "leaderboard", "--port", str(port),
               "--submissions", str(submissions)]  # fmt: skip
    if theme:
        command += ["--theme", theme]
    env = _env(BIOBENCH_CACHE_DIR=str(cache or workdir / "cache"))
    with _serving(command, env, workdir, port, timeout) as server:
        yield server


@contextmanager
def serve_page(
    script: Path, workdir: Path, *, env: dict | None = None, timeout: float = 90.0
) -> Iterator[Server]:
    """Another Streamlit script with the leaderboard's server settings (``streamlit run`` of
    ``runners.board.streamlit_command``, the same loopback, headless and watcher options), e.g.
    the benchmark's floor page."""
    from runners.board import streamlit_command

    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = streamlit_command(port, script=script)
    with _serving(command, _env(**(env or {})), workdir, port, timeout) as server:
        yield server


def chrome(
    profile: Path,
    *,
    size: tuple[int, int] = (1400, 1000),
    downloads: Path | None = None,
    page_load_timeout: float = 60.0,
):
    """A headless Chromium (Selenium ``webdriver.Chrome``) with its profile in ``profile``; the
    caller quits it (or use :func:`browser`). Check :func:`missing` first."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager fetch anything
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (*CHROMIUM_ARGS, f"--window-size={size[0]},{size[1]}",
                f"--user-data-dir={profile}"):  # fmt: skip
        options.add_argument(arg)
    downloads = downloads or profile.parent / f"{profile.name}-downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(page_load_timeout)
    return driver


@contextmanager
def browser(profile: Path, **kwargs) -> Iterator:
    driver = chrome(profile, **kwargs)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for_text(driver, texts: Sequence[str], timeout: float = 60.0, poll: float = 0.5) -> str:
    """The page source once every text is in it (Streamlit renders after the page loads)."""
    deadline = time.monotonic() + timeout
    source = ""
    while time.monotonic() < deadline:
        source = driver.page_source
        if all(t in source for t in texts):
            return source
        time.sleep(poll)
    missing_texts = [t for t in texts if t not in source]
    raise AssertionError(f"not on the page after {timeout:.0f} s: {missing_texts}")


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (from ``/proc/<pid>/task/*/children``)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(c) for c in task.read_text().split()]
            except (OSError, ValueError):
                continue
    return found


def memory_kb(pid: int, field: str = "VmRSS") -> int | None:
    """``field`` (VmRSS, VmHWM: kB) of ``/proc/<pid>/status``; None without such a file."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None
