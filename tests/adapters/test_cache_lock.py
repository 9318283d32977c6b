"""The cached clones' lock (gitrollback/adapters/_cache_lock.py): two threads, or a thread and another process,
cloning or fetching the same URL at once. Coordinated with events and a pipe, never with sleeps."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path

import git
import pytest

from gitrollback.adapters._cache_lock import CacheLock
from gitrollback.adapters.git_repo import GitAssetSource
from gitrollback.adapters.git_workspace import GitWorkspace
from gitrollback.errors import GitError
from gitrollback.testing.repos import CommitSpec, make_repo

FILE_ENV = {"GIT_ALLOW_PROTOCOL": "file"}
#: a bound on how long a coordination step may take before the test fails (never a delay the test relies on)
STEP_TIMEOUT = 30.0


class _Waiting(logging.Handler):
    """Sets ``event`` when the lock logs that a clone or fetch waits for another."""

    def __init__(self, event: threading.Event) -> None:
        super().__init__()
        self.event = event

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("waiting for "):
            self.event.set()


def test_two_threads_cloning_the_same_url_at_once_share_one_clone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thread A is held inside its clone; thread B opens the same URL and waits for the lock (it logs so); once A
    finishes, B fetches into A's clone instead of cloning again. One clone, both see the same tip, no error."""
    upstream = tmp_path / "upstream"
    tip = make_repo(upstream, [CommitSpec("one", files={"a/f": "1"})])["c1"]
    url, cache = upstream.as_uri(), tmp_path / "cache"
    inside, release, waiting = threading.Event(), threading.Event(), threading.Event()
    clones: list[str] = []
    original = git.Repo.clone_from

    def clone_from(*args: object, **kwargs: object) -> git.Repo:
        clones.append(threading.current_thread().name)
        if len(clones) == 1:
            inside.set()
            assert release.wait(STEP_TIMEOUT)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(git.Repo, "clone_from", clone_from)
    handler = _Waiting(waiting)
    lock_logger = logging.getLogger("gitrollback.adapters._cache_lock")
    lock_logger.addHandler(handler)
    monkeypatch.setattr(lock_logger, "level", logging.INFO)
    seen: dict[str, str] = {}
    errors: list[BaseException] = []

    def read(name: str) -> None:
        try:
            with GitAssetSource(url, cache_dir=cache, env=FILE_ENV) as src:
                seen[name] = src.resolve("main")
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    a = threading.Thread(target=read, args=("a",), name="a")
    b = threading.Thread(target=read, args=("b",), name="b")
    try:
        a.start()
        assert inside.wait(STEP_TIMEOUT), "thread a never started its clone"
        b.start()
        assert waiting.wait(STEP_TIMEOUT), "thread b did not wait for a's clone"
    finally:
        release.set()
        a.join(STEP_TIMEOUT)
        b.join(STEP_TIMEOUT)
        lock_logger.removeHandler(handler)
    assert errors == []
    assert clones == ["a"] and seen == {"a": tip, "b": tip}
    clone = GitAssetSource(url, cache_dir=cache).path
    assert sorted(p.name for p in cache.iterdir()) == [clone.name, clone.name + ".lock"]


_HOLDER = """
import sys
from pathlib import Path
from gitrollback.adapters._cache_lock import CacheLock
with CacheLock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def test_another_process_holding_the_lock_bounds_the_wait_with_a_clear_error(tmp_path: Path) -> None:
    """Another process holds the clone's lock: an open with lock_timeout=0 fails at once with kind cache_busy,
    naming the URL and the lock file; after that process lets go, the same open clones."""
    upstream = tmp_path / "upstream"
    tip = make_repo(upstream, [CommitSpec("one", files={"a/f": "1"})])["c1"]
    url, cache = upstream.as_uri(), tmp_path / "cache"
    source = GitAssetSource(url, cache_dir=cache, env=FILE_ENV, lock_timeout=0)
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(source.path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdin is not None
            assert holder.stdout.readline() == "locked\n"
            with pytest.raises(GitError) as caught:
                source.open()
            assert caught.value.kind == "cache_busy" and caught.value.hint
            assert url in str(caught.value) and f"{source.path}.lock" in str(caught.value)
            assert not source.path.exists()
            holder.stdin.write("\n")
            holder.stdin.flush()
            assert holder.wait(STEP_TIMEOUT) == 0
        finally:
            if holder.poll() is None:
                holder.kill()
    with source:
        assert source.resolve("main") == tip


def test_a_fetch_waits_for_the_lock_like_a_clone(tmp_path: Path) -> None:
    """The clone exists; while this process holds its lock (another file description, as another thread would),
    reopening (which fetches) is refused after the bounded wait; released, it fetches."""
    upstream = tmp_path / "upstream"
    make_repo(upstream, [CommitSpec("one", files={"a/f": "1"})])
    url, cache = upstream.as_uri(), tmp_path / "cache"
    with GitAssetSource(url, cache_dir=cache, env=FILE_ENV):
        pass
    source = GitAssetSource(url, cache_dir=cache, env=FILE_ENV, lock_timeout=0)
    with CacheLock(source.path), pytest.raises(GitError, match="busy"):
        source.open()
    second = make_repo(upstream, [CommitSpec("two", files={"a/f": "2"})])["c1"]
    with source:
        assert source.resolve("main") == second


def test_a_workspace_creation_waits_for_the_lock(tmp_path: Path) -> None:
    """GitWorkspace takes the same lock around its creation (and every fetch)."""
    origin = tmp_path / "origin"
    tip = make_repo(origin, [CommitSpec("one", files={"a/f": "1"})])["c1"]
    ws = GitWorkspace(str(origin), cache_dir=tmp_path / "cache", branch="main", lock_timeout=0)
    with CacheLock(ws.path), pytest.raises(GitError) as caught:
        ws.open()
    assert caught.value.kind == "cache_busy" and not ws.path.exists()
    with ws:
        assert ws.tip() == tip


@pytest.mark.parametrize("warm", [False, True], ids=["cold-cache", "remote-moved"])
def test_four_threads_opening_one_url_all_succeed(tmp_path: Path, warm: bool) -> None:
    """Four fleet-like workers open the same file:// URL at once (released together by a barrier), on a cold cache
    and on a warm one whose remote has moved since: every one succeeds and sees the remote's tip. Without the lock
    they shared one staging directory (its name carried only the process id) and raced git's ref locks."""
    upstream = tmp_path / "upstream"
    tip = make_repo(upstream, [CommitSpec("one", files={"a/f": "1"}, tag="v1")])["c1"]
    url, cache = upstream.as_uri(), tmp_path / "cache"
    if warm:
        with GitAssetSource(url, cache_dir=cache, env=FILE_ENV):
            pass
        tip = make_repo(upstream, [CommitSpec("two", files={"a/f": "2"}, tag="v2")])["c1"]
    barrier = threading.Barrier(4)
    seen: list[str] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            barrier.wait(STEP_TIMEOUT)
            with GitAssetSource(url, cache_dir=cache, env=FILE_ENV) as src:
                seen.append(src.resolve("main"))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(STEP_TIMEOUT * 4)
    assert errors == [] and seen == [tip] * 4
    assert not list(cache.glob(".*.partial"))
