"""``/healthz`` and ``/metrics`` over real sockets, scraped with httpx; the exposition text parsed strictly."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from gitrollback.testing.clock import FakeClock
from gitrollback.testing.sandbox import SandboxWorld
from gitrollback.watch.http import HealthServer, split_listen
from gitrollback.watch.service import WatchService
from tests.watch.conftest import MakeService

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf'^({_NAME})(\{{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\}})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')


def parse_exposition(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Prometheus text format 0.0.4, strictly: HELP then TYPE before a family's samples, known types, counters named
    ``_total``, float values, a trailing newline; returns samples by family and label set."""
    assert text.endswith("\n")
    families: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    helped: set[str] = set()
    types: dict[str, str] = {}
    for line in text.rstrip("\n").split("\n"):
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert re.fullmatch(_NAME, name) and name not in helped
            helped.add(name)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name in helped and name not in types, f"TYPE before HELP or twice: {line}"
            assert kind in ("counter", "gauge"), line
            assert kind != "counter" or name.endswith("_total")
            types[name] = kind
            families[name] = {}
        else:
            match = _SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            name, labels, value = match.group(1), match.group(2) or "", match.group(3)
            assert name in types, f"sample before its TYPE: {line}"
            key = tuple(sorted(_LABEL.findall(labels)))
            assert key not in families[name]
            families[name][key] = float(value)
    return families


@pytest.fixture(name="served")
def _served(make_service: MakeService) -> Iterator[tuple[WatchService, WatchService, str, str]]:
    a, b = make_service("watch-a", policy="notify"), make_service("watch-b", policy="notify")
    servers = [HealthServer("127.0.0.1:0", health=s.health, metrics=s.metrics.render).start() for s in (a, b)]
    urls = ["http://{}:{}".format(*server.address) for server in servers]
    yield a, b, urls[0], urls[1]
    for server in servers:
        server.stop()


def test_metrics_and_healthz_of_a_leader_and_a_follower(
    served: tuple[WatchService, WatchService, str, str], world: SandboxWorld, clock: FakeClock
) -> None:
    a, b, url_a, url_b = served
    a.step()
    b.step()
    with httpx.Client(timeout=10) as http:
        response = http.get(f"{url_a}/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        metrics = parse_exposition(response.text)
        labels = (("policy", "notify"), ("provider", "sandbox"))
        assert metrics["gitrollback_watch_rollbacks_started_total"] == {labels: 1.0}
        assert metrics["gitrollback_watch_rollbacks_succeeded_total"] == {labels: 1.0}
        assert metrics["gitrollback_watch_rollbacks_failed_total"] == {}
        assert metrics["gitrollback_watch_is_leader"] == {(): 1.0}
        assert metrics["gitrollback_watch_polls_total"] == {(): 1.0}
        stamp = metrics["gitrollback_watch_last_success_timestamp_seconds"][(("provider", "sandbox"),)]
        assert stamp == clock.now().timestamp()
        follower = parse_exposition(http.get(f"{url_b}/metrics").text)
        assert follower["gitrollback_watch_is_leader"] == {(): 0.0}
        assert follower["gitrollback_watch_polls_total"] == {(): 0.0}
        assert follower["gitrollback_watch_rollbacks_started_total"] == {}
        health = http.get(f"{url_b}/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "ok" and health.json()["leader"] is False
        assert health.json()["holder"] == "watch-a"
        assert http.get(f"{url_a}/healthz").json()["leader"] is True
        assert http.get(f"{url_a}/nothing").status_code == 404


def test_healthz_is_503_when_the_loop_is_stuck(
    served: tuple[WatchService, WatchService, str, str], clock: FakeClock
) -> None:
    a, _, url_a, _ = served
    a.step()
    clock.advance(a.watch.stuck_after - 1)
    with httpx.Client(timeout=10) as http:
        assert http.get(f"{url_a}/healthz").status_code == 200
        clock.advance(1)
        stuck = http.get(f"{url_a}/healthz")
        assert stuck.status_code == 503 and stuck.json()["status"] == "stuck"
        a.step()
        assert http.get(f"{url_a}/healthz").status_code == 200


def test_label_values_are_escaped() -> None:
    from gitrollback.watch.metrics import Metrics

    m = Metrics()
    m.inc("gitrollback_watch_rollbacks_started_total", {"provider": 'a"b\\c\nd', "policy": "notify"})
    parsed = parse_exposition(m.render())
    assert parsed["gitrollback_watch_rollbacks_started_total"] == {
        (("policy", "notify"), ("provider", 'a\\"b\\\\c\\nd')): 1.0
    }


@pytest.mark.parametrize("bad", ["8080", "host:", "host:99999", "host:http"])
def test_split_listen_refuses_what_is_not_host_port(bad: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        split_listen(bad)


def test_split_listen() -> None:
    assert split_listen("0.0.0.0:8080") == ("0.0.0.0", 8080)
    assert split_listen(":9090") == ("0.0.0.0", 9090)
    assert split_listen("[::1]:8080") == ("::1", 8080)


def _ipv6_loopback() -> bool:
    import socket

    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_an_ipv6_listen_address_binds_and_serves() -> None:
    server = HealthServer("[::1]:0", health=lambda: (True, {"status": "ok"}), metrics=lambda: "")
    server.start()
    try:
        host, port = server.address
        assert host == "::1"
        response = httpx.get(f"http://[::1]:{port}/healthz", timeout=10)
        assert response.status_code == 200 and response.json() == {"status": "ok"}
    finally:
        server.stop()


def test_healthz_is_503_when_the_lease_renewal_thread_died(world: SandboxWorld, make_service: MakeService) -> None:
    """Real-time mode keeps its Lease through a thread; if that thread is gone the replica can never lead again, so
    the liveness probe must restart it."""
    import threading

    service = make_service("watch-0")
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    service._renewer = dead  # the state a crashed renewal thread leaves
    healthy, document = service.health()
    assert not healthy and document["status"] == "lease renewal stopped"
    service._renewer = None
