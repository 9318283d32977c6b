"""A real git remote over smart HTTP: ``git http-backend`` behind the simulator server base, with token auth.

Tests that exercise what gitrollback does with a *hosted* remote (credentials in the environment, 401 handling,
rejected pushes over HTTP) need real git on the other end, not a fake. ``GitHttpBackend`` turns one request
into one CGI call of ``git http-backend`` (``git help http-backend``): ``GIT_PROJECT_ROOT`` plus the CGI
variables, ``GIT_PROTOCOL`` from the ``Git-Protocol`` header (protocol v2), ``HTTP_CONTENT_ENCODING`` from
``Content-Encoding`` (git gzips large upload-pack requests), and receive-pack switched on through per-process
config, so pushes work without ``REMOTE_USER``. Large pushes arrive ``Transfer-Encoding: chunked`` after a 4-byte
probe POST; the server base already de-chunks bodies, so the CGI sees a plain ``CONTENT_LENGTH`` body.

It answers only ``/<owner>/<name>.git/{info/refs,git-upload-pack,git-receive-pack}`` and returns None for every
other path, so a host simulator (GitHub, GitLab) can serve its REST API on the same port::

    def handle(self, request: Request) -> Response:
        return self.git.handle(request) or self._api(request)

Auth mirrors the hosts: with a token, every git request needs ``Authorization: Basic`` with ``username`` and the
token as password, else ``401`` with ``WWW-Authenticate: Basic realm="git"`` (git then retries with credentials
from the URL, or fails with "terminal prompts disabled" when it has none). ``GitHttpServer`` is the stand-alone
server with ``url_for`` and ``create_bare``. Only the stdlib is used.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlencode

from gitrollback.testing.server import Request, Response, SimulatorServer

__all__ = ["GitHttpBackend", "GitHttpServer"]

logger = logging.getLogger(__name__)

_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
_GIT_PATH = re.compile(
    rf"^/(?P<owner>{_NAME})/(?P<name>{_NAME})\.git/(?P<service>info/refs|git-upload-pack|git-receive-pack)$"
)
_CGI_TIMEOUT = 120.0


def _git() -> str:
    return shutil.which("git") or "git"


class GitHttpBackend:
    """Serves the repositories under ``root`` over git's smart HTTP protocol.

    Args:
        root: folder holding ``<owner>/<name>.git`` bare repositories.
        token: when given, the password every request must carry (Basic auth); None serves anonymously.
        username: the Basic-auth user name that goes with the token (GitHub uses ``x-access-token``,
            GitLab ``oauth2``).

    Usage::

        backend = GitHttpBackend(tmp_path / "git", token="t0ken")
        response = backend.handle(request)  # None: not a git path, serve something else
    """

    def __init__(self, root: Path, *, token: str | None = None, username: str = "x-access-token") -> None:
        self.root = Path(root)
        self.token = token
        self.username = username

    def handle(self, request: Request) -> Response | None:
        """The http-backend reply for a git path, 401 without valid credentials, None for any other path."""
        match = _GIT_PATH.match(unquote(request.raw_path))
        if match is None:
            return None
        if not self._authorized(request):
            return Response(401, b"Authentication required\n", {"WWW-Authenticate": 'Basic realm="git"'})
        return self._cgi(request, match)

    def handle_authorized(self, request: Request) -> bool:
        """True when ``request`` carries the credentials this backend accepts (so a host may refuse it for
        another reason, such as a role without push rights)."""
        return self._authorized(request)

    def _authorized(self, request: Request) -> bool:
        if self.token is None:
            return True
        scheme, _, value = request.header("Authorization").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        # compare_digest on both parts: no timing side channel, even in a simulator that people copy from.
        return hmac.compare_digest(user.encode(), self.username.encode()) & hmac.compare_digest(
            password.encode(), self.token.encode()
        )

    def _cgi(self, request: Request, match: re.Match[str]) -> Response:
        path_info = f"/{match['owner']}/{match['name']}.git/{match['service']}"
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "LC_ALL": "C",
            # The developer's own git config must not change what the server does.
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            # receive-pack is off for anonymous CGI requests unless http.receivepack is set (git help http-backend);
            # allowFilter lets clients make blob:none partial clones, as GitHub and GitLab allow.
            "GIT_CONFIG_COUNT": "3",
            "GIT_CONFIG_KEY_0": "http.receivepack",
            "GIT_CONFIG_VALUE_0": "true",
            "GIT_CONFIG_KEY_1": "uploadpack.allowFilter",
            "GIT_CONFIG_VALUE_1": "true",
            "GIT_CONFIG_KEY_2": "uploadpack.allowAnySHA1InWant",
            "GIT_CONFIG_VALUE_2": "true",
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "REQUEST_METHOD": request.method,
            "PATH_INFO": path_info,
            "QUERY_STRING": urlencode(request.query, doseq=True),
            "CONTENT_TYPE": request.header("Content-Type"),
            # The base server has de-chunked the body already, so its length is known here.
            "CONTENT_LENGTH": str(len(request.body)),
        }
        if self.token is not None:
            env["REMOTE_USER"] = self.username
        for header, variable in (("Git-Protocol", "GIT_PROTOCOL"), ("Content-Encoding", "HTTP_CONTENT_ENCODING")):
            if value := request.header(header):
                env[variable] = value
        done = subprocess.run(
            [_git(), "http-backend"],
            input=request.body,
            env=env,
            capture_output=True,
            check=False,
            timeout=_CGI_TIMEOUT,
        )
        return self._parse_cgi(done)

    @staticmethod
    def _parse_cgi(done: subprocess.CompletedProcess[bytes]) -> Response:
        out = done.stdout
        # http-backend ends its header block with CRLF CRLF; accept a bare LF LF as CGI allows.
        cuts = [(i, len(sep)) for sep in (b"\r\n\r\n", b"\n\n") if (i := out.find(sep)) >= 0]
        if not cuts:
            message = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
            return Response.text(500, f"git http-backend failed: {message}")
        cut, width = min(cuts)
        head, body = out[:cut].decode("latin-1"), out[cut + width :]
        headers: dict[str, str] = {}
        status = 200
        for line in head.splitlines():
            key, sep, value = line.partition(":")
            if not sep:
                continue
            if key.strip().lower() == "status":
                status = int(value.split()[0])
            else:
                headers[key.strip()] = value.strip()
        if status >= 400:
            logger.debug("git http-backend answered %s: %s", status, done.stderr.decode("utf-8", "replace").strip())
        return Response(status, body, headers)


class GitHttpServer(SimulatorServer):
    """A stand-alone smart-HTTP git server for the bare repositories under ``root``.

    Args:
        root: folder for ``<owner>/<name>.git`` repositories (``create_bare`` makes them).
        token: when given, git must authenticate with user ``x-access-token`` and this password.

    Usage::

        with GitHttpServer(tmp_path / "git", token="t0ken") as server:
            server.create_bare("acme", "gitops")
            url = server.url_for("acme", "gitops")  # http://127.0.0.1:<port>/acme/gitops.git
    """

    def __init__(self, root: Path, *, token: str | None = None) -> None:
        super().__init__()
        self.root = Path(root)
        self.git = GitHttpBackend(self.root, token=token)

    def handle(self, request: Request) -> Response:
        """git paths go to http-backend; anything else is 404."""
        return self.git.handle(request) or Response.text(404, "404 page not found")

    def url_for(self, owner: str, name: str) -> str:
        """The clone URL of ``owner/name`` (no credentials in it)."""
        return f"{self.url}/{owner}/{name}.git"

    def create_bare(self, owner: str, name: str, *, initial_branch: str = "main") -> Path:
        """Create an empty bare repository ``owner/name`` and return its path (existing ones are kept)."""
        for part in (owner, name):
            if not re.fullmatch(_NAME, part):
                raise ValueError(f"not a usable repository name part: {part!r}")
        path = self.root / owner / f"{name}.git"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            env = {"PATH": os.environ.get("PATH", os.defpath), "GIT_CONFIG_NOSYSTEM": "1"}
            env["GIT_CONFIG_GLOBAL"] = os.devnull
            subprocess.run(
                [_git(), "init", "--quiet", "--bare", f"--initial-branch={initial_branch}", str(path)],
                env=env,
                capture_output=True,
                check=True,
            )
        return path
