"""Credentials leave git remotes for a per-process extraHeader and never land in a URL."""

from __future__ import annotations

import base64

from gitrollback.adapters._git_remote import add_extra_header, basic_auth_header, is_url, strip_credentials
from gitrollback.wiring import git_auth_env


def test_strip_credentials_moves_the_password_into_a_header() -> None:
    """An http(s) URL loses user:password (percent-decoded into the header); other remotes are untouched."""
    url, header = strip_credentials("https://x-access-token:t%40k@git.example:8443/acme/app.git")
    assert url == "https://git.example:8443/acme/app.git"
    assert header is not None
    assert base64.b64decode(header.removeprefix("Authorization: Basic ")).decode() == "x-access-token:t@k"
    for remote in ("/srv/git/app.git", "git@github.com:acme/app.git", "ssh://git@host/app.git", "https://host/a.git"):
        assert strip_credentials(remote) == (remote, None)


def test_extra_headers_append_to_existing_git_config_env() -> None:
    """Headers are appended after any GIT_CONFIG_* entries already in the environment."""
    env = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.askPass", "GIT_CONFIG_VALUE_0": ""}
    add_extra_header(env, basic_auth_header("oauth2", "glpat"))
    assert env["GIT_CONFIG_COUNT"] == "2" and env["GIT_CONFIG_KEY_1"] == "http.extraHeader"
    assert git_auth_env("tok", user="oauth2", base={"HOME": "/h"})["GIT_CONFIG_VALUE_0"] == basic_auth_header(
        "oauth2", "tok"
    )


def test_is_url() -> None:
    """Schemes and scp-style remotes are URLs; paths are not."""
    assert is_url("https://h/a.git") and is_url("git@h:a/b.git") and is_url("file:///srv/a.git")
    assert not is_url("/srv/a.git") and not is_url("relative/dir")
