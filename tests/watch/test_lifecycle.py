"""Stopping ``watch``: between polls and in the middle of a rollback; and the ``watch`` command itself."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from gitrollback.cli import main
from gitrollback.cli.output import Output
from gitrollback.config import parse_config
from gitrollback.errors import ConfigError
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.sandbox import SandboxWorld
from tests.watch.conftest import WATCH_NS, MakeService, watch_yaml
from tests.watch.test_remediation import _journals, _lease_handled


def _holder(world: SandboxWorld) -> str:
    rt = world.cluster.type_for("coordination.k8s.io/v1", "Lease")
    assert rt is not None
    lease = world.cluster.get(rt, WATCH_NS, "gitrollback-watch")
    assert lease is not None
    return str(lease["spec"].get("holderIdentity") or "")


def test_run_stops_when_told_and_releases_the_lease(
    world: SandboxWorld, clock: FakeClock, make_service: MakeService
) -> None:
    service = make_service(policy="notify")
    clock.after(65, service.stop.set)  # SIGTERM, as the CLI's handler delivers it
    service.run()
    assert service.actions == 1
    assert clock.monotonic() == pytest.approx(66, abs=2)
    assert _holder(world) == ""
    assert service.metrics.get("gitrollback_watch_is_leader") == 0


def test_a_stop_during_a_rollback_ends_the_run_at_its_next_wait_and_the_next_leader_resumes_it(
    world: SandboxWorld, clock: FakeClock, make_service: MakeService
) -> None:
    service = make_service("watch-a")
    clock.after(0.5, service.stop.set)
    service.run()
    labels = {"provider": "sandbox", "policy": "rollback"}
    assert service.metrics.get("gitrollback_watch_rollbacks_failed_total", labels) == 1
    journals = _journals(world)
    assert len(journals) == 1
    ended = json.loads(journals[0].read_text().splitlines()[-1])
    assert (ended["status"], ended["error_kind"]) == ("failed", "watch_stopping")
    assert _lease_handled(world) == []  # not handled: the next leader decides again
    assert _holder(world) == ""
    clock.advance(2)
    successor = make_service("watch-b")
    successor.step()
    assert successor.metrics.get("gitrollback_watch_rollbacks_succeeded_total", labels) == 1
    assert _journals(world) == journals
    assert json.loads(journals[0].read_text().splitlines()[-1])["status"] == "rolled_back"


def _config(world: SandboxWorld, tmp_path: Path, **kw: object) -> Path:
    path = tmp_path / "watch.yaml"
    path.write_text(world.config_text + watch_yaml(world, **kw), encoding="utf-8")  # type: ignore[arg-type]
    return path


def test_the_watch_command_once(world: SandboxWorld, clock: FakeClock, tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    config = _config(world, tmp_path, policy="notify")
    env = {**world.env, "POD_NAME": "watch-cli"}
    code = main(["watch", "--once", "--json", "-c", str(config)], env=env, output=Output(out, err), clock=clock)
    assert code == 0, err.getvalue()
    assert json.loads(out.getvalue()) == {"watch": {"stopped": True, "actions": 1, "identity": "watch-cli"}}
    assert "serving /healthz and /metrics on 127.0.0.1:" in err.getvalue()
    assert _holder(world) == ""  # released on the way out
    assert _lease_handled(world) == [world.failed_job_id]


def test_the_watch_command_needs_a_lease_namespace(world: SandboxWorld, clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "watch.yaml"
    text = world.config_text + watch_yaml(world).replace(f", namespace: {WATCH_NS}", "")
    path.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = main(["watch", "--once", "--json", "-c", str(path)], env=world.env, output=Output(out, err), clock=clock)
    assert code == 2
    assert (
        "watch.leader_election.namespace: no namespace for the watch Lease"
        in json.loads(out.getvalue())["error"]["message"]
    )
    # POD_NAMESPACE supplies it
    out = io.StringIO()
    env = {**world.env, "POD_NAMESPACE": WATCH_NS}
    assert main(["watch", "--once", "--json", "-c", str(path)], env=env, output=Output(out, err), clock=clock) == 0


def test_a_bad_listen_flag_is_a_usage_error(world: SandboxWorld, clock: FakeClock, tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    config = _config(world, tmp_path)
    code = main(["watch", "--once", "--json", "--listen", "nope", "-c", str(config)], env=world.env,
                output=Output(out, err), clock=clock)  # fmt: skip
    assert code == 2 and json.loads(out.getvalue())["error"]["kind"] == "config"


_BASE = """
imagefactory: {url: https://if.example, tenant_id: 6f1c2a9e-3b7d-4e0a-9c51-2d8f0b6a7e41, auth: {token_env: T}}
providers:
  - {id: 0b8e6f1e-7c2a-4d3b-8e9f-1a2b3c4d5e6f, name: prod, assets: {repo: /r}}
"""


def test_the_watch_section_parses_with_defaults() -> None:
    w = parse_config(_BASE).watch
    assert (w.policy, w.poll_interval, w.max_actions, w.window, w.listen) == ("notify", 60.0, 1, 3600.0, "0.0.0.0:8080")
    assert not w.leader_election.enabled
    w = parse_config(_BASE + "watch:\n  policy: propose\n  providers: {prod: rollback}\n"
                     "  leader_election: {kubeconfig: /k}\n").watch  # fmt: skip
    le = w.leader_election
    assert le.enabled and (le.lease_name, le.lease_duration, le.renew_deadline, le.retry_period) == (
        "gitrollback-watch", 15.0, 10.0, 2.0)  # fmt: skip
    settings = parse_config(_BASE + "watch: {policy: propose, providers: {prod: rollback}}\n")
    assert settings.watch.policy_for(settings.providers[0]) == "rollback"


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("{policy: fix}", "watch.policy"),
        ("{providers: {other: notify}}", "watch.providers.other"),
        ("{providers: {prod: destroy}}", "watch.providers.prod"),
        ("{listen: 8080}", "watch.listen"),
        ("{rate_limit: {max_actions: 0}}", "watch.rate_limit.max_actions"),
        ("{leader_election: {enabled: true}}", "watch.leader_election.kubeconfig"),
        (
            "{leader_election: {kubeconfig: /k, lease_duration_seconds: 10}}",
            "watch.leader_election.lease_duration_seconds",
        ),
        (
            "{leader_election: {kubeconfig: /k, retry_period_seconds: 10}}",
            "watch.leader_election.renew_deadline_seconds",
        ),
        (
            "{leader_election: {kubeconfig: /k, lease_duration_seconds: 10.5, renew_deadline_seconds: 10.2}}",
            "watch.leader_election.lease_duration_seconds",
        ),
        (
            "{leader_election: {kubeconfig: /k, renew_deadline_seconds: 2.1, retry_period_seconds: 2}}",
            "watch.leader_election.renew_deadline_seconds",
        ),
        ("{rate_limit: {max_actions: 5}, handled_history: 4}", "watch.handled_history"),
        ("{leader_election: {kubeconfig: /k, lease_name: Not_A_Name}}", "watch.leader_election.lease_name"),
        ("{webhook: true}", "watch.webhook"),
    ],
)
def test_bad_watch_settings_name_their_key(section: str, key: str) -> None:
    with pytest.raises(ConfigError) as bad:
        parse_config(_BASE + f"watch: {section}\n")
    assert bad.value.key == key
