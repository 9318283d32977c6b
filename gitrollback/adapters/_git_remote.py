"""Git remotes and the credentials that go with them, without ever writing a token anywhere.

A token in a remote URL would be stored in ``.git/config`` (``git clone`` records the URL as
``remote.origin.url``) and show up in logged command lines, so gitrollback moves it into an ``http.extraHeader``
that git reads from ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n`` environment variables, for one
process only (git-config(1), "ENVIRONMENT"; ``docs/gitops.md``, "Tokens and credentials").
Shared by the history reader (``git_repo``), the workspace (``git_workspace``) and the wiring that turns a
configured host token into git credentials. Pure functions, no third-party imports.
"""

from __future__ import annotations

import base64
import re
from collections.abc import MutableMapping
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["add_extra_header", "basic_auth_header", "is_url", "strip_credentials"]

_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SCP_RE = re.compile(r"^[\w.-]+@[\w.-]+:")  # git@host:org/repo.git


def is_url(location: str) -> bool:
    """True for ``scheme://`` and scp-style ``user@host:path`` remotes, False for local paths."""
    return bool(_SCHEME_RE.match(location) or _SCP_RE.match(location))


def basic_auth_header(user: str, token: str) -> str:
    """The ``Authorization: Basic`` header value git should send for ``user``/``token``."""
    return "Authorization: Basic " + base64.b64encode(f"{user}:{token}".encode()).decode("ascii")


def strip_credentials(url: str) -> tuple[str, str | None]:
    """The URL without a ``user:password@`` part, and the header that carries those credentials instead.

    Only http(s) URLs with a password change; anything else (local paths, ssh, URLs without a password) comes back
    as given with no header.
    """
    if not _SCHEME_RE.match(url):
        return url, None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.password is None:
        return url, None
    header = basic_auth_header(unquote(parts.username or ""), unquote(parts.password))
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc)), header


def add_extra_header(env: MutableMapping[str, str], header: str) -> None:
    """Append ``http.extraHeader=<header>`` to the per-process git config carried in ``env``."""
    index = int(env.get("GIT_CONFIG_COUNT", "0") or "0")
    env[f"GIT_CONFIG_KEY_{index}"] = "http.extraHeader"
    env[f"GIT_CONFIG_VALUE_{index}"] = header
    env["GIT_CONFIG_COUNT"] = str(index + 1)
