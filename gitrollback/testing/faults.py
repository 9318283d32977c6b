"""Fault rules for the simulators: what goes wrong on the network, per route, from code or from the command line.

Every simulator is a ``SimulatorServer``, so every simulator takes these rules (``SimulatorServer.add_fault`` and
its shorthands ``delay``, ``fail``, ``reset``, ``hang`` and ``slow_drip``). A rule matches requests by method and
a regular expression searched in the raw path; it skips the first ``skip`` matches and then applies to the next
``times`` (every one when ``times`` is None). The first rule that applies wins. The kinds, and what a client sees:

``delay``
    The request is handled ``seconds`` later, on the simulator's clock: on a ``FakeClock`` that costs no real time
    (and no real-time deadline sees it), on a ``WallClock`` it is a real wait.
``fail``
    The request is not handled; the answer is ``status`` with ``body`` (default: the status's reason) and optional
    ``retry_after`` (a ``Retry-After`` header), as a proxy or a server shedding load answers.
``reset``
    The request is read but not handled, and the connection is closed at once with a TCP reset: no answer at all.
``hang``
    The request is read but not handled, and nothing is ever sent: the connection stays open until the client gives
    up or the simulator stops. Real socket time by nature.
``drip``
    The request is handled, and the real answer is sent one byte every ``seconds`` of real time (a slow-drip server:
    no single read ever waits long, so only a whole-request deadline ends it).

``parse_fault`` reads the command-line form of ``sandbox serve --fault`` (``docs/cli.md``)::

    SERVER:KIND[,key=value...]      e.g.  imagefactory:fail,path=/tekton/status,status=503,times=2
                                          argocd:drip,seconds=1          git:hang,times=1
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Literal

__all__ = ["FAULT_KINDS", "FAULT_SERVERS", "Fault", "FaultSpec", "parse_fault"]

FaultKind = Literal["delay", "fail", "reset", "hang", "drip"]
FAULT_KINDS: tuple[FaultKind, ...] = ("delay", "fail", "reset", "hang", "drip")
#: The simulators ``sandbox serve --fault`` can reach by name; ``git`` is the Git host's smart-HTTP routes.
FAULT_SERVERS = ("imagefactory", "kubernetes", "github", "gitlab", "argocd", "git")
#: The path of every git smart-HTTP request (``/<owner>/<name>.git/info/refs``, ``/git-upload-pack``...).
GIT_PATH = r"\.git/"


@dataclass
class Fault:
    """One fault rule on one simulator (see the module docstring); ``hits`` counts the requests it took."""

    kind: FaultKind
    path: str = ""
    method: str | None = None
    times: int | None = None
    skip: int = 0
    seconds: float = 1.0
    status: int = 503
    body: str | None = None
    retry_after: str | None = None
    hits: int = field(default=0, init=False)
    _seen: int = field(default=0, init=False, repr=False)
    _pattern: re.Pattern[str] = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(FAULT_KINDS)}")
        if (self.times is not None and self.times < 0) or self.skip < 0 or self.seconds < 0:
            raise ValueError("times, skip and seconds must not be negative")
        if self.kind == "fail" and not 100 <= self.status <= 599:
            raise ValueError(f"not an HTTP status: {self.status}")
        self._pattern = re.compile(self.path)
        if self.method is not None:
            self.method = self.method.upper()

    def take(self, method: str, path: str) -> bool:
        """True when this rule applies to the request (and counts it)."""
        if self.method is not None and method.upper() != self.method:
            return False
        if not self._pattern.search(path):
            return False
        with self._lock:
            self._seen += 1
            if self._seen <= self.skip:
                return False
            if self.times is not None and self.hits >= self.times:
                return False
            self.hits += 1
            return True

    @property
    def exhausted(self) -> bool:
        """True once a rule with ``times`` has taken that many requests."""
        return self.times is not None and self.hits >= self.times

    def answer_body(self) -> bytes:
        """The body of a ``fail`` answer (Go ``http.Error`` style: text and a newline)."""
        text = self.body if self.body is not None else HTTPStatus(self.status).phrase
        return (text + "\n").encode("utf-8")

    def describe(self) -> str:
        """One line for logs and the ``sandbox serve`` banner."""
        where = f"{self.method or '*'} {self.path or '/'}"
        extra = {
            "delay": f" {self.seconds:g}s",
            "fail": f" {self.status}" + (f" Retry-After {self.retry_after}" if self.retry_after else ""),
            "drip": f" a byte every {self.seconds:g}s",
        }.get(self.kind, "")
        count = "every time" if self.times is None else f"{self.times}x"
        return f"{self.kind}{extra} on {where} ({count}{f' after {self.skip}' if self.skip else ''})"


@dataclass(frozen=True)
class FaultSpec:
    """A parsed ``--fault``: which simulator, and the rule's arguments."""

    server: str
    fault: Fault


_INT_KEYS = ("times", "skip", "status")


def parse_fault(spec: str) -> FaultSpec:
    """Read ``SERVER:KIND[,key=value...]`` (keys: method, path, times, skip, seconds, status, body, retry_after).

    ``git`` defaults the path to the git smart-HTTP routes. Raises ``ValueError`` naming what is wrong.
    """
    head, _, rest = spec.partition(",")
    server, _, kind = head.partition(":")
    server, kind = server.strip().lower(), kind.strip().lower()
    if server not in FAULT_SERVERS:
        raise ValueError(f"unknown server {server!r} in {spec!r}; one of {', '.join(FAULT_SERVERS)}")
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r} in {spec!r}; one of {', '.join(FAULT_KINDS)}")
    options: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"expected key=value, got {item!r} in {spec!r}")
        options[key.strip().lower()] = value.strip()
    known = {"method", "path", "times", "skip", "seconds", "status", "body", "retry_after"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} in {spec!r}; keys: {', '.join(sorted(known))}")
    try:
        ints = {k: int(options[k]) for k in _INT_KEYS if k in options}
        seconds = float(options["seconds"]) if "seconds" in options else 1.0
    except ValueError as exc:
        raise ValueError(f"not a number in {spec!r}: {exc}") from exc
    path = options.get("path", GIT_PATH if server == "git" else "")
    try:
        fault = Fault(
            kind,  # checked against FAULT_KINDS above
            path=path,
            method=options.get("method"),
            times=ints.get("times"),
            skip=ints.get("skip", 0),
            seconds=seconds,
            status=ints.get("status", 503),
            body=options.get("body"),
            retry_after=options.get("retry_after"),
        )
    except re.error as exc:
        raise ValueError(f"path is not a regular expression in {spec!r}: {exc}") from exc
    return FaultSpec(server, fault)
