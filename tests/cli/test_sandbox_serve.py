"""`sandbox serve` keeps a world up that the other commands can drive by hand."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from gitrollback.cli import EXIT_INTERRUPTED, EXIT_OK, main
from gitrollback.cli.output import Output
from gitrollback.cli.sandbox import serve_sandbox
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.sandbox import TOKEN_ENV


class _Announced(io.StringIO):
    """A captured stream that sets ``ready`` once ``needle`` has been written."""

    def __init__(self, needle: str) -> None:
        super().__init__()
        self.needle, self.ready = needle, threading.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if self.needle in self.getvalue():
            self.ready.set()
        return written


def test_serve_writes_config_and_env_file_and_accepts_commands(tmp_path: Path) -> None:
    """serve prints the endpoints, writes config, kubeconfig and an env file, and assess works against it."""
    out, stop, clock = _Announced("Press Ctrl-C"), threading.Event(), FakeClock()
    thread = threading.Thread(
        target=serve_sandbox, args=(str(tmp_path / "w"), Output(out, io.StringIO()), stop), kwargs={"clock": clock}
    )
    thread.start()
    try:
        # an event, not a poll: building the world takes as long as git and the simulators need, however slow
        assert out.ready.wait(300), out.getvalue()
        text = out.getvalue()
        config = tmp_path / "w" / "gitrollback.yaml"
        env_file = tmp_path / "w" / "sandbox.env"
        assert str(config) in text and (tmp_path / "w" / "kubeconfig.yaml").exists()
        token = env_file.read_text().strip().split("=", 1)[1]
        assert token not in text
        cli_out = io.StringIO()
        code = main(
            ["assess", "--config", str(config)],
            env={TOKEN_ENV: token},
            output=Output(cli_out, io.StringIO()),
            clock=clock,
        )
        assert code == EXIT_OK and "verdict       rollback" in cli_out.getvalue()
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()


def test_interrupt_exits_130(monkeypatch) -> None:
    """Ctrl-C during a command exits 130 and says that rerunning is safe."""

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("gitrollback.cli.sandbox.run_sandbox", interrupted)
    err = io.StringIO()
    assert main(["sandbox"], env={}, output=Output(io.StringIO(), err)) == EXIT_INTERRUPTED
    assert "resumes where it stopped" in err.getvalue()


def test_serve_a_flux_world_and_plan_against_it(tmp_path: Path) -> None:
    """serve --mode gitops --sync flux names the Flux simulator; plan says the Kustomization renders the path."""
    from gitrollback.cli.sandbox import SandboxOptions
    from gitrollback.testing.sandbox_gitops import SCM_TOKEN_ENV

    out, stop, clock = _Announced("Press Ctrl-C"), threading.Event(), FakeClock()
    options = SandboxOptions(mode="gitops", scm="direct", sync="flux")
    thread = threading.Thread(
        target=serve_sandbox,
        args=(str(tmp_path / "w"), Output(out, io.StringIO()), stop),
        kwargs={"clock": clock, "options": options},
    )
    thread.start()
    try:
        assert out.ready.wait(300), out.getvalue()
        assert "Flux simulator:" in out.getvalue() and "Argo CD simulator" not in out.getvalue()
        env = dict(
            line.removeprefix("export ").split("=", 1)
            for line in (tmp_path / "w" / "sandbox.env").read_text().splitlines()
        )
        cli_out = io.StringIO()
        config = str(tmp_path / "w" / "gitrollback.yaml")
        code = main(["plan", "--config", config], env=env, output=Output(cli_out, io.StringIO()), clock=clock)
        assert code == EXIT_OK, cli_out.getvalue()
        assert "the Flux Kustomization flux-system/tekton-assets renders it with kustomize" in cli_out.getvalue()
        assert SCM_TOKEN_ENV not in env  # direct: no host token to hand out
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
