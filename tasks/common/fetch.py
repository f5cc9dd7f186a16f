"""Download the manifest's files into the data folder, each checked by size and SHA-256.

Where: ``$BIOBENCH_DATA_DIR`` when set, else ``$XDG_CACHE_HOME/bioinstruct-bench/data``
(default ``~/.cache/bioinstruct-bench/data``), in the layout of ``../shared/data``. From where:
``https://raw.githubusercontent.com/OWNER/REPO/COMMIT/PATH``; ``$BIOBENCH_DATA_URL`` replaces the
base (a mirror keeps the ``OWNER/REPO/COMMIT/PATH`` layout). Offline (``HF_HUB_OFFLINE=1`` or
``BIOBENCH_OFFLINE=1``) nothing is downloaded: a missing file is one line saying what to fetch
where.

How: ``pooch`` does what it is made for — a registry of known hashes, each download streamed to
a temporary file in the destination folder, hashed, and moved into place only when the hash
matches, and retries with a growing pause (1 s, 2 s, ...) on connection errors. What pooch does
not do is filled in here:

* resume — pooch restarts a file from byte 0; our downloader keeps the bytes received so far in
  ``.biobench/partial/<path>`` and asks for the rest with an HTTP ``Range`` request (a server
  that ignores it sends the whole file, which then replaces the partial one);
* a wrong hash fails at once (pooch would download it again on each retry) and nothing of it is
  kept; an HTTP 4xx is not retried either;
* concurrency — one ``filelock`` lock per data folder (``.biobench/fetch.lock``): a second
  process (another lm-eval rank, another terminal) waits, then finds the files in place;
* one progress bar for the bytes and files of a whole fetch (pooch draws one per file).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tasks.common.manifest import DataFile, manifest

log = logging.getLogger(__name__)

DATA_DIR_ENV = "BIOBENCH_DATA_DIR"
URL_ENV = "BIOBENCH_DATA_URL"
OFFLINE_ENV = "BIOBENCH_OFFLINE"
RETRIES_ENV = "BIOBENCH_DATA_RETRIES"
DEFAULT_RETRIES = 3
TIMEOUT = (10, 60)  # seconds: connect, between two reads
WORKERS = 8  # files downloaded at once (HoC is 3,704 small files: one at a time, latency rules)
STATE_DIR = ".biobench"  # inside the data folder: the lock and partial downloads
CHUNK = 1 << 16


class DataUnavailableError(RuntimeError):
    """A dataset's files cannot be read; the message is one line saying what and the fix."""


class FetchError(DataUnavailableError):
    """A download failed (HTTP error, unreachable server, wrong content)."""


def truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def data_root() -> Path:
    """The data folder: ``$BIOBENCH_DATA_DIR``, else the per-user cache."""
    value = os.environ.get(DATA_DIR_ENV, "").strip()
    if value:
        return Path(value).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "bioinstruct-bench" / "data"


def offline_reason() -> str:
    """Why downloads are off (``""`` when they are allowed). ``BIOBENCH_OFFLINE=0`` allows them
    even where ``HF_HUB_OFFLINE=1`` keeps the Hugging Face hub off."""
    value = os.environ.get(OFFLINE_ENV, "").strip()
    if value.lower() in {"0", "false", "no", "off"}:
        return ""
    for name in (OFFLINE_ENV, "HF_HUB_OFFLINE"):
        if truthy(name):
            return f"{name}={os.environ[name].strip()}"
    return ""


def human_size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.0f} kB"


def _files(n: int) -> str:
    return f"{n:,} file" + ("" if n == 1 else "s")


def base_url() -> str:
    return (os.environ.get(URL_ENV, "").strip() or manifest().base_url).rstrip("/")


def retries() -> int:
    value = os.environ.get(RETRIES_ENV, "").strip()
    if not value:
        return DEFAULT_RETRIES
    if not value.isdigit():
        raise FetchError(f"{RETRIES_ENV}={value!r} is not a whole number of retries (e.g. 3)")
    return int(value)


def sha256_of(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def problem(root: Path, f: DataFile) -> str:
    """What is wrong with ``f`` under ``root``: ``""`` when it is there and intact."""
    path = root / f.path
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size != f.bytes:
        return f"altered ({size:,} bytes, expected {f.bytes:,})"
    if sha256_of(path) != f.sha256:
        return "altered (SHA-256 differs)"
    return ""


def problems(root: Path, files: Iterable[DataFile]) -> list[tuple[DataFile, str]]:
    return [(f, p) for f in files if (p := problem(root, f))]


def fetch_command(files: Sequence[DataFile]) -> str:
    names = list(dict.fromkeys(f.dataset for f in files))
    every = len(names) == len(manifest().datasets)
    return f"biobench data fetch {'all' if every else ' '.join(names)}"


def offline_message(root: Path, missing: Sequence[tuple[DataFile, str]], why: str) -> str:
    f, state = missing[0]
    more = f" (and {_files(len(missing) - 1)} more)" if len(missing) > 1 else ""
    title = manifest().datasets[f.dataset].title
    hub_only = why.startswith("HF_HUB_OFFLINE")
    allow = f"; or, if this machine is online, set {OFFLINE_ENV}=0 to allow it" if hub_only else ""
    return (
        f"dataset {f.dataset} ({title}): {f.path} is {state} in {root}{more} and downloads are "
        f"off ({why}); on a machine online run `{fetch_command([m for m, _ in missing])}` and "
        f"copy the data folder it names to {root} here (or set {DATA_DIR_ENV} to the copy){allow}"
    )


def _tries(n: int) -> str:
    return f"{n} try" if n == 1 else f"{n} tries"


def _short_reason(exc: BaseException) -> str:
    text = str(exc)
    errno = re.search(r"\[Errno -?\d+\] [^'\")\]]+", text)
    if errno:
        return errno.group(0).strip()
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


@dataclass
class _Progress:
    """One bar for a whole fetch: bytes, and files done in its description."""

    total_files: int
    total_bytes: int
    enabled: bool | None = None  # None: only on a terminal (tqdm's rule)

    def __post_init__(self) -> None:
        from tqdm.auto import tqdm

        self.done = 0
        self.lock = threading.Lock()  # eight download threads report to one bar
        self.bar = tqdm(
            total=self.total_bytes,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=self._desc(),
            disable=None if self.enabled is None else not self.enabled,
            file=sys.stderr,
            leave=True,
        )

    def _desc(self) -> str:
        return f"data: {self.done}/{self.total_files} files"

    def add(self, n: int) -> None:
        with self.lock:
            self.bar.update(n)

    def file_done(self) -> None:
        with self.lock:
            self.done += 1
            self.bar.set_description(self._desc(), refresh=False)

    def close(self) -> None:
        self.bar.close()


class _Sessions(threading.local):
    """One HTTP session per download thread: connections are kept alive between files."""

    def get(self):
        import requests

        if not hasattr(self, "session"):
            self.session = requests.Session()
        return self.session


class _ResumingDownloader:
    """A pooch downloader that resumes from ``.biobench/partial/<path>`` with HTTP Range."""

    def __init__(self, root: Path, f: DataFile, progress: _Progress, sessions: _Sessions) -> None:
        self.f = f
        self.sessions = sessions
        self.part = root / STATE_DIR / "partial" / f.path
        self.progress = progress
        self.counted = 0  # bytes of this file already shown on the bar

    def __call__(self, url: str, output_file: str, pooch: object) -> None:
        self.part.parent.mkdir(parents=True, exist_ok=True)
        have = self.part.stat().st_size if self.part.is_file() else 0
        if have > self.f.bytes:
            self.part.unlink()
            have = 0
        if have > self.counted:
            self.progress.add(have - self.counted)
            self.counted = have
        if have < self.f.bytes:
            headers = {"Range": f"bytes={have}-"} if have else {}
            with self.sessions.get().get(
                url, headers=headers, stream=True, timeout=TIMEOUT
            ) as response:
                if response.status_code == 416:  # the partial file does not fit: start again
                    self.part.unlink()
                    response.raise_for_status()  # retried by pooch, from byte 0
                if 400 <= response.status_code < 500:
                    raise FetchError(
                        f"dataset {self.f.dataset}: {self.f.path}: HTTP {response.status_code} "
                        f"{response.reason} for {url}; {_url_hint()}"
                    )
                response.raise_for_status()  # 5xx: retried by pooch
                resumed = response.status_code == 206
                with self.part.open("ab" if resumed else "wb") as fh:
                    if not resumed and self.counted:
                        self.progress.add(-self.counted)
                        self.counted = 0
                    for chunk in response.iter_content(CHUNK):
                        fh.write(chunk)
                        self.progress.add(len(chunk))
                        self.counted += len(chunk)
                        if fh.tell() > self.f.bytes:  # longer than the manifest says: refused below
                            break
        self._check_and_move(Path(output_file))

    def _check_and_move(self, output: Path) -> None:
        size = self.part.stat().st_size
        if size < self.f.bytes:  # the server ended early without an error: resume on retry
            import requests

            raise requests.exceptions.ChunkedEncodingError(
                f"{self.f.path}: connection ended at byte {size:,} of {self.f.bytes:,}"
            )
        got = sha256_of(self.part)
        if size != self.f.bytes or got != self.f.sha256:
            self.part.unlink()
            raise FetchError(
                f"dataset {self.f.dataset}: {self.f.path}: the download does not match the "
                f"manifest (size {size:,} vs {self.f.bytes:,}, SHA-256 {got[:12]}... vs "
                f"{self.f.sha256[:12]}...); refused and deleted; {_url_hint()}"
            )
        os.replace(self.part, output)


def _url_hint() -> str:
    if os.environ.get(URL_ENV, "").strip():
        return (
            f"check the mirror {URL_ENV}={base_url()} (it must serve OWNER/REPO/COMMIT/PATH "
            "exactly as raw.githubusercontent.com)"
        )
    return f"check the connection, or set {URL_ENV} to a mirror"


@contextlib.contextmanager
def _quiet_pooch() -> Iterator[None]:
    """Pooch logs one INFO line per file (3,704 for HoC); our bar says the same."""
    import pooch

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _announce(root: Path, todo: Sequence[DataFile]) -> None:
    datasets = list(dict.fromkeys(f.dataset for f in todo))
    size = sum(f.bytes for f in todo)
    print(
        f"data: downloading {_files(len(todo))} ({human_size(size)}) of {', '.join(datasets)} "
        f"from {base_url()} to {root}",
        file=sys.stderr,
        flush=True,
    )
    for name in datasets:
        d = manifest().datasets[name]
        if d.restricted:  # files are downloaded once per data folder: on first download
            print(f"data: terms of {name} ({d.title}): {d.licence}", file=sys.stderr, flush=True)


def ensure(
    files: Sequence[DataFile], root: Path | None = None, *, progress: bool | None = None
) -> Path:
    """Make every file of ``files`` present and intact under ``root`` (default: the data
    folder), downloading what is missing or altered; returns ``root``. Raises a one-line
    :class:`DataUnavailableError` when that cannot be done."""
    root = data_root() if root is None else root
    todo = problems(root, files)
    if not todo:
        return root
    why = offline_reason()
    if why:
        raise DataUnavailableError(offline_message(root, todo, why))
    from filelock import FileLock

    try:
        (root / STATE_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(
            f"cannot create the data folder {root}: {exc.strerror}; set {DATA_DIR_ENV} to a "
            "writable folder"
        ) from exc
    with FileLock(str(root / STATE_DIR / "fetch.lock")):
        todo = problems(root, files)  # another process may have fetched them meanwhile
        if todo:
            _download(root, [f for f, _ in todo], progress)
    return root


def _download(root: Path, todo: Sequence[DataFile], enabled: bool | None) -> None:
    import pooch
    import requests

    _announce(root, todo)
    base = base_url()
    store = pooch.Pooch(
        path=root,
        base_url=base + "/",
        registry={f.path: f"sha256:{f.sha256}" for f in todo},
        urls={f.path: f.url(base) for f in todo},
        retry_if_failed=retries(),
    )
    bar = _Progress(len(todo), sum(f.bytes for f in todo), enabled)
    sessions = _Sessions()
    # pooch makes a file's folder with an unguarded exists-then-makedirs: two threads writing
    # into one new folder race on it (FileExistsError), so every folder is made here first
    for folder in sorted({(root / f.path).parent for f in todo}):
        folder.mkdir(parents=True, exist_ok=True)

    def one(f: DataFile) -> None:
        url = f.url(base)
        try:
            store.fetch(f.path, downloader=_ResumingDownloader(root, f, bar, sessions))
        except requests.exceptions.RequestException as exc:
            raise FetchError(
                f"dataset {f.dataset}: cannot download {f.path} from {url} "
                f"({_short_reason(exc)}, after {_tries(store.retry_if_failed + 1)}); "
                f"{_url_hint()}; rerun to resume"
            ) from exc
        except ValueError as exc:  # pooch's own hash check (ours runs first)
            raise FetchError(
                f"dataset {f.dataset}: {f.path} from {url}: {exc}; {_url_hint()}"
            ) from exc
        except OSError as exc:
            raise FetchError(f"dataset {f.dataset}: cannot write {root / f.path}: {exc}") from exc
        bar.file_done()

    pool = ThreadPoolExecutor(max_workers=min(WORKERS, len(todo)))
    try:
        with _quiet_pooch():
            futures = [pool.submit(one, f) for f in todo]
            for future in futures:
                future.result()  # the first failure stops the fetch
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
        _remove_empty_dirs(root / STATE_DIR / "partial")


def _remove_empty_dirs(top: Path) -> None:
    for folder in sorted((p for p in top.rglob("*") if p.is_dir()), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()
    with contextlib.suppress(OSError):
        top.rmdir()
