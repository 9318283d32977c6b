"""``gitrollback sandbox``: build the simulated world and roll it back with the same code as ``run``.

``sandbox`` (or ``sandbox run``) builds the world in a temporary directory (or ``--dir``), runs the rollback
through ``Rollback.from_settings`` exactly as ``gitrollback run`` would, and tears the world down.
``sandbox serve`` builds the world, writes the config and kubeconfig, prints how to drive it by hand, and keeps
the simulators up until interrupted.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from gitrollback.cli.output import Output, StepPrinter
from gitrollback.models import RunReport

__all__ = ["run_sandbox", "serve_sandbox"]


def _read(path: str) -> str:
    return Path(path).expanduser().read_text(encoding="utf-8")


def _intro(world_dir: Path, output: Output, quiet: bool) -> None:
    if not quiet:
        output.message(
            f"Building the sandbox in {world_dir} (git repository, Kubernetes and Image Factory simulators)..."
        )


def run_sandbox(directory: str | None, progress: StepPrinter, output: Output) -> RunReport:
    """Build the world, roll it back, return the report."""
    from gitrollback.api import Rollback
    from gitrollback.config import parse_config
    from gitrollback.testing.sandbox import build_sandbox

    with tempfile.TemporaryDirectory(prefix="gitrollback-sandbox-") as tmp:
        root = Path(directory) if directory else Path(tmp)
        _intro(root, output, progress.quiet)
        with build_sandbox(root) as world:
            if not progress.quiet:
                output.message(
                    f"Provider {world.provider_id} ('sandbox') upgraded to {world.repo.bad[:12]} "
                    f"(tag v0.4.0); installer job {world.failed_job_id} failed. Rolling back:\n"
                )
            settings = parse_config(world.config_text, source=str(world.config_path))
            with Rollback.from_settings(settings, env=world.env, read_file=_read, progress=progress) as rb:
                return rb.run()


def serve_sandbox(directory: str | None, output: Output, stop: threading.Event | None = None) -> int:
    """Build the world and keep it running until interrupted (or until ``stop`` is set)."""
    with tempfile.TemporaryDirectory(prefix="gitrollback-sandbox-") as tmp:
        return _serve(Path(directory) if directory else Path(tmp), output, stop)


def _serve(root: Path, output: Output, stop: threading.Event | None) -> int:
    from gitrollback.testing.sandbox import TOKEN_ENV, build_sandbox

    _intro(root, output, False)
    with build_sandbox(root) as world:
        env_file = world.directory / "sandbox.env"
        env_file.write_text(f"export {TOKEN_ENV}={world.token}\n", encoding="utf-8")
        env_file.chmod(0o600)
        output.result(
            "\n".join(
                [
                    f"Image Factory simulator: {world.imagefactory.url}",
                    f"Kubernetes simulator:    {world.kube.url}  (kubeconfig: {world.kubeconfig_path})",
                    f"Git repository:          {world.repo.path}",
                    f"Config:                  {world.config_path}",
                    "",
                    "In another shell:",
                    f"  source {env_file}    # sets {TOKEN_ENV} (the token is not printed)",
                    f"  python -m gitrollback assess --config {world.config_path}",
                    f"  python -m gitrollback plan   --config {world.config_path}",
                    f"  python -m gitrollback run    --config {world.config_path} --yes",
                    "",
                    "Press Ctrl-C to stop.",
                ]
            )
        )
        (stop or threading.Event()).wait()
    return 0
