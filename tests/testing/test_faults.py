"""Fault rules: parsing the --fault form, matching by method, path, skip and times, and the CLI's refusal."""

from __future__ import annotations

import io

import httpx
import pytest

from gitrollback.cli import main
from gitrollback.cli.output import Output
from gitrollback.testing.faults import GIT_PATH, Fault, parse_fault
from gitrollback.testing.server import Request, Response, SimulatorServer


class _Echo(SimulatorServer):
    def handle(self, request: Request) -> Response:
        return Response.json(200, {"path": request.path})


def test_parse_fault_reads_server_kind_and_keys() -> None:
    """The command-line form names the simulator, the kind and the rule's keys; git defaults to its routes."""
    spec = parse_fault("imagefactory:fail,path=/tekton/status$,status=429,times=2,skip=1,retry_after=5,method=get")
    f = spec.fault
    assert spec.server == "imagefactory"
    assert (f.kind, f.path, f.status, f.times, f.skip, f.retry_after, f.method) == (
        "fail",
        "/tekton/status$",
        429,
        2,
        1,
        "5",
        "GET",
    )
    assert parse_fault("git:hang").fault.path == GIT_PATH
    assert parse_fault("argocd:drip,seconds=0.5").fault.seconds == 0.5


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("jenkins:hang", "unknown server"),
        ("argocd:explode", "unknown fault kind"),
        ("argocd:fail,status", "expected key=value"),
        ("argocd:fail,colour=red", "unknown key 'colour'"),
        ("argocd:fail,times=two", "not a number"),
        ("argocd:fail,path=(", "not a regular expression"),
        ("argocd:fail,status=999", "not an HTTP status"),
    ],
)
def test_parse_fault_names_what_is_wrong(spec: str, words: str) -> None:
    """Each malformed spec is refused with a message that says why."""
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        parse_fault(spec)


def test_rules_match_method_and_path_then_skip_and_count() -> None:
    """A rule lets ``skip`` matches through, takes ``times`` more, and ignores other methods and paths."""
    with _Echo() as sim, httpx.Client(base_url=sim.url) as client:
        rule = sim.fail(r"^/a$", 418, method="GET", times=2, skip=1, body="teapot")
        assert client.post("/a").status_code == 200
        assert client.get("/b").status_code == 200
        assert [client.get("/a").status_code for _ in range(4)] == [200, 418, 418, 200]
        assert rule.hits == 2 and rule.exhausted
        assert client.get("/a").status_code == 200
        sim.clear_faults()
        assert sim.faults == []


def test_a_fail_rule_answers_without_handling_the_request() -> None:
    """The failed request never reaches the simulator's handler, and Retry-After is sent when asked for."""
    with _Echo() as sim, httpx.Client(base_url=sim.url) as client:
        sim.add_fault(Fault("fail", path="/x", status=503, retry_after="7"))
        answer = client.get("/x")
        assert (answer.status_code, answer.headers["retry-after"], answer.text) == (503, "7", "Service Unavailable\n")
        assert sim.requests == []


def test_sandbox_refuses_a_bad_fault_before_building_anything() -> None:
    """``sandbox --fault`` with a malformed spec exits 2 and names the problem."""
    out, err = io.StringIO(), io.StringIO()
    assert main(["sandbox", "--fault", "imagefactory:melt"], env={}, output=Output(out, err)) == 2
    assert "unknown fault kind 'melt'" in err.getvalue()


def test_sandbox_run_recovers_from_an_injected_fault() -> None:
    """``sandbox --fault`` puts the rule on the named simulator: two 503s on the validate POST are retried away."""
    from gitrollback.testing.clock import FakeClock

    out, err = io.StringIO(), io.StringIO()
    spec = "imagefactory:fail,path=/tekton/validate$,method=POST,times=2,status=503"
    code = main(["sandbox", "--fault", spec], env={}, output=Output(out, err), clock=FakeClock())
    assert code == 0, err.getvalue()
    assert "Fault on imagefactory: fail 503 on POST /tekton/validate$ (2x)" in err.getvalue()
    assert "HTTP 503; attempt 3 of 4" in err.getvalue()
