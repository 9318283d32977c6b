"""The anonymous ``git ls-remote`` the build preflight runs when a project has no repository auth.

Image Factory runs ``git ls-remote --heads --tags <url>`` with an 8 s context timeout
(imagefactoryoss/imagefactory ``backend/internal/adapters/primary/rest/build_handler_manifest_helpers.go``,
``defaultPublicRepoProbe``; ``build_handler.go``, ``validateTektonRepositoryAuth``) and accepts the build when it
exits 0. The simulator runs the same real git command, but only against repositories on this machine (a path,
``file://``, or ``http(s)://`` on 127.0.0.1 or localhost, such as ``GitHttpServer``): it never reaches out to the
network, so any other URL counts as not publicly reachable, which is what a private repository answers.
"""

from __future__ import annotations

import os
import subprocess
from urllib.parse import urlsplit

__all__ = ["publicly_reachable"]

_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
PROBE_TIMEOUT = 8.0  # seconds, the Go code's context.WithTimeout


def _local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        return True
    return parts.scheme in ("http", "https") and (parts.hostname or "") in _LOCAL_HOSTS


def publicly_reachable(url: str) -> bool:
    """True when an anonymous ``git ls-remote --heads --tags`` of ``url`` succeeds (local URLs only)."""
    if not url.strip() or not _local(url):
        return False
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/nonexistent"),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_ASKPASS": "/bin/false",
    }
    try:
        done = subprocess.run(
            ["git", "ls-remote", "--heads", "--tags", url],
            capture_output=True,
            env=env,
            timeout=PROBE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0
