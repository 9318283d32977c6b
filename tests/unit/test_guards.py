"""The guards' pure parts: pre-flight needs and verdicts, failure counting, the branch claim, config keys."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gitrollback.branch_lock import BranchLockedWorkspace, claim_trailers, parse_claim
from gitrollback.config import parse_config
from gitrollback.errors import ConfigError, PreconditionFailedError, PreflightFailedError, TransportError
from gitrollback.escalation import failed_attempts
from gitrollback.models import AccessNeeds, AccessProblem, Manifest, RollbackCommit
from gitrollback.preflight import kube_needs, needs_for, run_budget, run_preflight
from gitrollback.run_lock import Holder
from gitrollback.settings import AssetSettings, GitOpsSettings, ProviderSettings, SmokeBuildSettings, SyncSettings
from gitrollback.testing.clock import FakeClock

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
CONFIG = """
imagefactory: {url: https://if.example, tenant_id: 6f1c2a9e-3b7d-4e0a-9c51-2d8f0b6a7e41, auth: {token_env: T}}
providers:
  - id: 0b8e6f1e-7c2a-4d3b-8e9f-1a2b3c4d5e6f
    assets: {repo: /tmp/repo}
    cluster: {kubeconfig: /tmp/kc}
"""


def _manifest(api_version: str, kind: str, name: str, namespace: str | None = None) -> Manifest:
    return Manifest(api_version, kind, name, {"apiVersion": api_version, "kind": kind}, namespace=namespace)


def _provider(**changes: Any) -> ProviderSettings:
    return replace(ProviderSettings(id="p-1", assets=AssetSettings(repo="/r")), **changes)


def test_kube_needs_cover_apply_lock_and_verification() -> None:
    """Installer mode needs patch+list per applied kind, the namespace read, the Lease verbs and Task/Pipeline lists;
    an object in another namespace (the scope check refuses it) is not asked about."""
    needs = kube_needs(
        "image_factory_installer",
        "ns",
        [
            _manifest("tekton.dev/v1beta1", "Task", "a"),
            _manifest("tekton.dev/v1beta1", "Task", "b"),
            _manifest("v1", "ConfigMap", "c", "other"),
        ],
    )
    got = {(n.verb, n.kind, n.namespace) for n in needs}
    assert {("get", "Lease", "ns"), ("create", "Lease", "ns"), ("update", "Lease", "ns")} <= got
    assert {
        ("get", "Namespace", "ns"),
        ("patch", "Task", "ns"),
        ("create", "Task", "ns"),
        ("list", "Task", "ns"),
    } <= got
    assert ("list", "Pipeline", "ns") in got and not any(n.kind == "ConfigMap" for n in needs)
    assert not any(n.verb == "delete" for n in needs)
    assert len(needs) == len(set(needs))
    gitops = {(n.verb, n.kind) for n in kube_needs("gitops", "ns", [], lease=False)}
    assert gitops == {("list", "Task"), ("list", "Pipeline")}


def test_kube_needs_cover_the_dry_run_listing_and_prune_of_allowed_kinds() -> None:
    """Added kinds are listed (dry run) and, with prune on, deleted; disallowed kinds are not asked about."""
    good = [_manifest("tekton.dev/v1", "Task", "a")]
    added = [_manifest("v1", "ConfigMap", "extra"), _manifest("rbac.authorization.k8s.io/v1", "ClusterRole", "x")]
    kinds = {"Task.tekton.dev", "ConfigMap"}
    off = {(n.verb, n.kind) for n in kube_needs("image_factory_installer", "ns", good, added=added, kinds=kinds)}
    assert ("list", "ConfigMap") in off and ("delete", "ConfigMap") not in off
    assert ("patch", "ConfigMap") not in off and not any(kind == "ClusterRole" for _, kind in off)
    on = kube_needs("image_factory_installer", "ns", good, added=added, prune=True, kinds=kinds)
    assert ("delete", "ConfigMap", "ns") in {(n.verb, n.kind, n.namespace) for n in on}
    assert ("delete", "Task") not in {(n.verb, n.kind) for n in on}


def test_run_budget_sums_the_waits_a_run_may_make() -> None:
    """The budget is the margin plus validate (installer) or merge and sync (gitops), plus the smoke build."""
    installer = _provider(smoke_build=SmokeBuildSettings(project_id="x", manifest={}, timeout=100))
    assert run_budget(installer, "image_factory_installer") == 300 + 600 + 100
    gitops = _provider(gitops=GitOpsSettings(scm="github", merge_timeout=50), sync=SyncSettings("argocd", timeout=70))
    assert run_budget(gitops, "gitops") == 300 + 50 + 70
    needs = needs_for(gitops, "gitops", namespace="ns", manifests=[])
    assert needs.push and needs.change_request and not needs.merge and needs.app == ""


class _Port:
    def __init__(self, problems: list[AccessProblem] | Exception) -> None:
        self.problems = problems

    def check_access(self, needs: AccessNeeds) -> list[AccessProblem]:
        if isinstance(self.problems, Exception):
            raise self.problems
        return self.problems


def test_preflight_collects_every_problem_and_names_unchecked_ports() -> None:
    """Problems from several ports and an unreachable one all end up in one error; a port without a check is named."""
    ports = [
        ("imagefactory", _Port([])),
        ("kubernetes", _Port([AccessProblem("kubernetes", "may not patch x")])),
        ("argocd", _Port(TransportError("down", adapter="argocd", operation="get", hint="check sync.url"))),
        ("github", _Port([AccessProblem("github", "may not push", "give it write access")])),
    ]
    with pytest.raises(PreflightFailedError) as failed:
        run_preflight(ports, AccessNeeds("p"))
    problems = failed.value.problems
    assert [p.service for p in problems] == ["kubernetes", "argocd", "github"]
    assert "could not be checked: down" in problems[1].problem and problems[1].hint == "check sync.url"
    assert failed.value.kind == "preflight_failed" and "(3 problems)" in failed.value.message
    assert failed.value.hint == "check sync.url; give it write access"
    result = run_preflight([("imagefactory", _Port([])), ("custom", object())], AccessNeeds("p"))
    assert result.checked == ("imagefactory",) and result.unchecked == ("custom",)
    assert "not checkable (no check_access): custom" in result.describe()


def _journal(directory: Path, run: str, finished: str, outcome: str | None, kind: str | None = None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"event": "start", "run_id": run, "provider_id": directory.name, "to": None, "force": False})]
    if outcome is not None:
        lines.append(json.dumps({"event": "end", "status": outcome, "error_kind": kind, "at": finished}))
    (directory / f"{run}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_failed_attempts_count_since_the_last_success(tmp_path: Path) -> None:
    """Failures after the last rolled_back count; refusals, pre-flight stops and unfinished runs do not."""
    runs = tmp_path / "runs" / "p-1"
    _journal(runs, "r1", "2026-03-01T01:00:00Z", "failed", "verification_failed")
    _journal(runs, "r2", "2026-03-01T02:00:00Z", "rolled_back")
    _journal(runs, "r3", "2026-03-01T03:00:00Z", "failed", "verification_failed")
    _journal(runs, "r4", "2026-03-01T04:00:00Z", "refused", "precondition")
    _journal(runs, "r5", "2026-03-01T05:00:00Z", "failed", "preflight_failed")
    _journal(runs, "r6", "", None)
    _journal(runs, "r7", "2026-03-01T07:00:00Z", "failed", "apply_failed")
    assert failed_attempts(tmp_path, "p-1") == 2
    assert failed_attempts(tmp_path, "other") == 0
    with (runs / "r7.jsonl").open("a", encoding="utf-8") as fh:  # r7 resumed and failed again: a second attempt
        fh.write(json.dumps({"event": "end", "status": "failed", "error_kind": "timeout", "at": "2026-03-01T08:00Z"}))
    assert failed_attempts(tmp_path, "p-1") == 3
    # runs the watch service cut short (stopping, or its leadership lost) and a proposed run are no failures
    _journal(runs, "r8", "2026-03-01T09:00:00Z", "failed", "watch_stopping")
    _journal(runs, "r9", "2026-03-01T10:00:00Z", "failed", "leadership_lost")
    _journal(runs, "r10", "2026-03-01T11:00:00Z", "proposed")
    assert failed_attempts(tmp_path, "p-1") == 3


def test_a_branch_claim_round_trips_through_trailers() -> None:
    """The claim written as trailers reads back; a commit without one has no claim."""
    since, until = NOW, NOW + timedelta(hours=1)
    claim = parse_claim(claim_trailers(Holder("run-1", "ops-1", 42), since, until))
    assert claim is not None and claim.holder == Holder("run-1", "ops-1", 42)
    assert claim.since == since and claim.until == until
    assert parse_claim({"Provider": "p-1"}) is None


class _Remote:
    def __init__(self, claims: dict[str, dict[str, str]]) -> None:
        self.claims, self.pushed = claims, 0

    def branch_trailers(self, prefix: str) -> dict[str, dict[str, str]]:
        return {b: t for b, t in self.claims.items() if b.startswith(prefix)}

    def prepare(self, **kw: Any) -> RollbackCommit:  # pragma: no cover - not used here
        raise AssertionError

    def push(self, commit: RollbackCommit, *, direct: bool = False) -> RollbackCommit:
        self.pushed += 1
        return commit

    def record_marker(self, *a: Any, **kw: Any) -> str:  # pragma: no cover - not used here
        return ""


def test_the_branch_lock_refuses_a_live_claim_and_passes_a_lapsed_one() -> None:
    """Another run's live claim on any branch of the provider refuses the push; a lapsed claim does not."""
    clock = FakeClock(start=NOW)
    other = claim_trailers(Holder("run-b", "ops-2", 7), NOW - timedelta(minutes=5), NOW + timedelta(minutes=30))
    remote = _Remote({"gitrollback/p-1/aaaaaaa-to-bbbbbbb": other})
    ws = BranchLockedWorkspace(
        remote,
        provider_id="p-1",
        holder=Holder("run-a", "ops-1", 1),
        since=NOW,
        until=NOW + timedelta(hours=1),
        clock=clock,
    )  # type: ignore[arg-type]
    commit = RollbackCommit("c" * 40, "gitrollback/p-1/ccccccc-to-ddddddd", "b" * 40, "c", "d", "restore")
    with pytest.raises(PreconditionFailedError) as refused:
        ws.push(commit)
    assert refused.value.kind == "lock_held" and "run run-b on ops-2 (pid 7)" in refused.value.message
    assert remote.pushed == 0
    clock.advance(31 * 60)
    assert ws.push(commit) is commit and remote.pushed == 1


def test_config_lock_and_escalation_keys() -> None:
    """lock.lease_seconds and escalation.{enabled, after_failures} parse, default, and refuse bad values."""
    defaults = parse_config(CONFIG)
    assert defaults.lock.lease_seconds == 120 and not defaults.escalation.enabled
    settings = parse_config(CONFIG + "lock: {lease_seconds: 90}\nescalation: {enabled: true, after_failures: 5}\n")
    assert settings.lock.lease_seconds == 90
    assert settings.escalation.enabled and settings.escalation.after_failures == 5
    with pytest.raises(ConfigError, match=r"lock\.lease_seconds: must be a whole number of at least 45"):
        parse_config(CONFIG + "lock: {lease_seconds: 10}\n")
    with pytest.raises(ConfigError, match=r"escalation\.after_failures: must be a whole number"):
        parse_config(CONFIG + "escalation: {after_failures: 1.5}\n")
    with pytest.raises(ConfigError, match="unknown key 'threshold'"):
        parse_config(CONFIG + "escalation: {threshold: 2}\n")
