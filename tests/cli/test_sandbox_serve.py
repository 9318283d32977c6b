"""`sandbox serve` keeps a world up that the other commands can drive by hand."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

from gitrollback.cli import EXIT_INTERRUPTED, EXIT_OK, main
from gitrollback.cli.output import Output
from gitrollback.cli.sandbox import serve_sandbox
from gitrollback.testing.sandbox import TOKEN_ENV


def test_serve_writes_config_and_env_file_and_accepts_commands(tmp_path: Path) -> None:
    """serve prints the endpoints, writes config, kubeconfig and an env file, and assess works against it."""
    out, stop = io.StringIO(), threading.Event()
    thread = threading.Thread(target=serve_sandbox, args=(str(tmp_path / "w"), Output(out, io.StringIO()), stop))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while "Press Ctrl-C" not in out.getvalue():
            assert time.monotonic() < deadline, out.getvalue()
            time.sleep(0.02)
        text = out.getvalue()
        config = tmp_path / "w" / "gitrollback.yaml"
        env_file = tmp_path / "w" / "sandbox.env"
        assert str(config) in text and (tmp_path / "w" / "kubeconfig.yaml").exists()
        token = env_file.read_text().strip().split("=", 1)[1]
        assert token not in text
        cli_out = io.StringIO()
        code = main(["assess", "--config", str(config)], env={TOKEN_ENV: token}, output=Output(cli_out, io.StringIO()))
        assert code == EXIT_OK and "verdict       rollback" in cli_out.getvalue()
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_interrupt_exits_130(monkeypatch) -> None:
    """Ctrl-C during a command exits 130 and says that rerunning is safe."""

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("gitrollback.cli.sandbox.run_sandbox", interrupted)
    err = io.StringIO()
    assert main(["sandbox"], env={}, output=Output(io.StringIO(), err)) == EXIT_INTERRUPTED
    assert "safe to rerun" in err.getvalue()
