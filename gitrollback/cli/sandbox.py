"""``gitrollback sandbox``: build a simulated world and roll it back with the same code as ``run``.

``sandbox`` (or ``sandbox run``) builds the world in a temporary directory (or ``--dir``), runs the rollback through
``Rollback.from_settings`` exactly as ``gitrollback run`` would, and tears the world down. ``--mode gitops`` builds
the GitOps world instead (``--scm github|gitlab|direct``, Argo CD or Flux syncing it: ``--sync argocd|flux``); a
simulated reviewer merges the pull or
merge request unless ``--auto-merge`` lets gitrollback merge it itself. ``sandbox serve`` builds the world, writes the
config, the kubeconfig and an env file with the tokens, prints how to drive it by hand, and keeps the simulators up
until interrupted.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gitrollback.cli.output import Output
from gitrollback.cli.progress import StepPrinter
from gitrollback.errors import ConfigError

if TYPE_CHECKING:
    from gitrollback.fleet import FleetReport
    from gitrollback.models import RunReport
    from gitrollback.testing.clock import SimClock
    from gitrollback.testing.sandbox import SandboxWorld
    from gitrollback.testing.sandbox_gitops import GitOpsSandbox

__all__ = ["SandboxOptions", "check_faults", "run_sandbox", "serve_sandbox"]


@dataclass(frozen=True)
class SandboxOptions:
    """Which world to build."""

    mode: Literal["image_factory_installer", "gitops"] = "image_factory_installer"
    scm: Literal["github", "gitlab", "direct"] = "github"
    auto_merge: bool = False
    sync: Literal["argocd", "flux"] = "argocd"
    faults: tuple[str, ...] = ()
    providers: int = 1
    tick: float | None = None
    poll_interval: float | None = None

    def check(self) -> None:
        """``ConfigError`` for a count or interval the world cannot be built with."""
        if self.providers < 1:
            raise ConfigError(f"--providers must be at least 1, got {self.providers}", key="--providers")
        for flag, value in (("--tick", self.tick), ("--poll-interval", self.poll_interval)):
            if value is not None and value <= 0:
                raise ConfigError(f"{flag} must be a positive number of seconds, got {value}", key=flag)

    def timing(self) -> tuple[float, float]:
        """The world's tick and the config's poll interval (the sandbox's defaults unless given)."""
        from gitrollback.testing.sandbox import POLL_INTERVAL, TICK

        return (
            TICK if self.tick is None else self.tick,
            POLL_INTERVAL if self.poll_interval is None else self.poll_interval,
        )


def _read(path: str) -> str:
    return Path(path).expanduser().read_text(encoding="utf-8")


def _require_simulators() -> None:
    """The sandbox runs the simulators, which need the ``testing`` extra: say so instead of a traceback."""
    try:
        from gitrollback.testing import _crd_schemas, _k8s_yaml, _kube_schemas  # noqa: F401
        from gitrollback.testing._extras import find_kubectl

        find_kubectl()
    except ImportError as exc:
        raise ConfigError(
            f"the sandbox needs gitrollback's simulators and their real components: {exc}",
            hint="pip install 'gitrollback[testing]'",
            kind="missing_extra",
        ) from exc


def _parse_fault(spec: str) -> Any:
    from gitrollback.testing.faults import parse_fault

    try:
        return parse_fault(spec)
    except ValueError as exc:
        raise ConfigError(str(exc), key="--fault", hint="SERVER:KIND[,key=value...], see docs/cli.md") from exc


def check_faults(specs: Sequence[str]) -> None:
    """Parse every ``--fault`` (``ConfigError`` naming the first bad one), without building anything."""
    for spec in specs:
        _parse_fault(spec)


def _inject_faults(world: SandboxWorld | GitOpsSandbox, specs: tuple[str, ...]) -> list[str]:
    """Add each ``--fault`` rule to its simulator; one line per rule for the banner.

    Raises:
        ConfigError: a spec that does not parse, or names a simulator this world does not have.
    """
    from gitrollback.testing.github import GitHubSimulator
    from gitrollback.testing.gitlab import GitLabSimulator

    lines = []
    for spec in specs:
        parsed = _parse_fault(spec)
        host = getattr(world, "host", None)
        servers = {
            "imagefactory": world.imagefactory,
            "kubernetes": world.kube,
            "argocd": getattr(world, "argocd", None),
            "github": host if isinstance(host, GitHubSimulator) else None,
            "gitlab": host if isinstance(host, GitLabSimulator) else None,
            "git": host,
        }
        server = servers[parsed.server]
        if server is None:
            raise ConfigError(
                f"this sandbox has no {parsed.server} simulator (in {spec!r})",
                key="--fault",
                hint="argocd needs --mode gitops; github, gitlab and git need --mode gitops with that --scm",
            )
        server.add_fault(parsed.fault)
        lines.append(f"Fault on {parsed.server}: {parsed.fault.describe()}")
    return lines


@contextlib.contextmanager
def _world(root: Path, options: SandboxOptions, clock: SimClock | None) -> Iterator[SandboxWorld | GitOpsSandbox]:
    """The world on ``clock`` (None: a ``WallClock`` it owns, real time with the sandbox's realistic intervals)."""
    _require_simulators()
    tick, poll = options.timing()
    if options.mode == "gitops":
        from gitrollback.testing.sandbox_gitops import build_gitops_sandbox

        with build_gitops_sandbox(
            root,
            scm=options.scm,
            auto_merge=options.auto_merge,
            sync=options.sync,
            clock=clock,
            providers=options.providers,
            tick=tick,
            poll_interval=poll,
        ) as gitops_world:
            if not options.auto_merge:
                gitops_world.start_reviewer()
            yield gitops_world
    else:
        from gitrollback.testing.sandbox import build_sandbox

        with build_sandbox(root, clock=clock, providers=options.providers, tick=tick, poll_interval=poll) as world:
            yield world


def _story(world: SandboxWorld | GitOpsSandbox, options: SandboxOptions) -> str:
    bad = world.repo.bad[:12]
    if options.mode == "gitops":
        merge = (
            "gitrollback merges it itself (--auto-merge)" if options.auto_merge else "a simulated reviewer merges it"
        )
        where = {"github": "a GitHub pull request", "gitlab": "a GitLab merge request", "direct": "a direct push"}
        applied = (
            f"Flux could not apply {bad} (tag v0.4.0) to provider {world.provider_id} ('sandbox', gitops mode): its "
            "dry run failed, the Kustomization is retrying and the provider has no Tasks"
            if options.sync == "flux"
            else f"Argo CD applied {bad} (tag v0.4.0) to provider {world.provider_id} ('sandbox', gitops mode) and "
            "the application is Degraded"
        )
        return (
            f"{applied}. Rolling back through {where[options.scm]}"
            + ("" if options.scm == "direct" else f"; {merge}")
            + ":\n"
        )
    failed = getattr(world, "failed_job_id", "")
    return (
        f"Provider {world.provider_id} ('sandbox') upgraded to {bad} (tag v0.4.0); installer job {failed} failed. "
        "Rolling back:\n"
    )


def run_sandbox(
    directory: str | None,
    progress: StepPrinter,
    output: Output,
    *,
    options: SandboxOptions | None = None,
    clock: SimClock | None = None,
) -> RunReport:
    """Build the world, roll it back on the world's clock, return the report.

    ``clock`` is the one clock the simulators and the rollback share (default: real time).
    """
    from gitrollback.api import Rollback
    from gitrollback.config import parse_config

    options = options or SandboxOptions()
    with tempfile.TemporaryDirectory(prefix="gitrollback-sandbox-") as tmp:
        root = Path(directory) if directory else Path(tmp)
        if not progress.quiet:
            output.message(f"Building the sandbox in {root} (git, Kubernetes, Image Factory and friends, simulated)...")
        with _world(root, options, clock) as world:
            injected = _inject_faults(world, options.faults)
            if not progress.quiet:
                output.message(_story(world, options))
                for line in injected:
                    output.message(line)
            settings = parse_config(world.config_text, source=str(world.config_path))
            with Rollback.from_settings(
                settings, env=world.env, read_file=_read, progress=progress, clock=world.clock
            ) as rb:
                return rb.run()


def run_sandbox_fleet(
    directory: str | None,
    output: Output,
    *,
    options: SandboxOptions,
    parallel: int | None = None,
    clock: SimClock | None = None,
    quiet: bool = False,
) -> FleetReport:
    """Build a world of ``options.providers`` providers and roll back every failed one with ``gitrollback.fleet``,
    as ``gitrollback run --all-failed --yes`` would; progress goes to stderr, one prefixed line at a time."""
    from gitrollback.cli.fleet import DEFAULT_PARALLEL, ProviderProgress, outcome_printer
    from gitrollback.config import parse_config
    from gitrollback.fleet import FleetRunner, open_from_settings

    with tempfile.TemporaryDirectory(prefix="gitrollback-sandbox-") as tmp:
        root = Path(directory) if directory else Path(tmp)
        if not quiet:
            output.message(f"Building the sandbox in {root} (git, Kubernetes, Image Factory and friends, simulated)...")
        with _world(root, options, clock) as world:
            injected = _inject_faults(world, options.faults)
            settings = parse_config(world.config_text, source=str(world.config_path))
            if not quiet:
                output.message(
                    f"{len(settings.providers)} providers ({options.mode} mode) upgraded to {world.repo.bad[:12]} "
                    "(tag v0.4.0), which failed. Rolling back every failed one:\n"
                )
                for line in injected:
                    output.message(line)
            lock = threading.Lock()
            runner = FleetRunner(
                settings.providers,
                open_from_settings(
                    settings,
                    env=world.env,
                    read_file=_read,
                    progress_for=lambda p: None if quiet else ProviderProgress(output, p.label, lock),
                ),
                parallel=parallel or DEFAULT_PARALLEL,
                only_failed=True,
                clock=world.clock,
                on_outcome=None if quiet else outcome_printer(output, lock),
            )
            return runner.run()


def serve_sandbox(
    directory: str | None,
    output: Output,
    stop: threading.Event | None = None,
    *,
    options: SandboxOptions | None = None,
    clock: SimClock | None = None,
    as_json: bool = False,
) -> int:
    """Build the world and keep it running until Ctrl-C (or until ``stop`` is set); either ends it with exit 0.

    The world runs on ``clock`` (default: real time, which is what a person driving it by hand needs). With
    ``as_json`` stdout gets one JSON document once the world is up (``sandbox_json``) and nothing after it.
    """
    with tempfile.TemporaryDirectory(prefix="gitrollback-sandbox-") as tmp:
        root = Path(directory) if directory else Path(tmp)
        return _serve(root, output, stop=stop, options=options or SandboxOptions(), clock=clock, as_json=as_json)


def _servers(world: SandboxWorld | GitOpsSandbox, options: SandboxOptions) -> dict[str, str]:
    """Each simulator's URL by name (Flux has none of its own: it lives in the Kubernetes simulator)."""
    servers = {"imagefactory": world.imagefactory.url, "kubernetes": world.kube.url}
    argocd = getattr(world, "argocd", None)
    if argocd is not None:
        servers["argocd"] = argocd.url
    host = getattr(world, "host", None)
    if host is not None:
        servers[options.scm] = host.url
    return servers


def _serve(
    root: Path,
    output: Output,
    *,
    stop: threading.Event | None,
    options: SandboxOptions,
    clock: SimClock | None,
    as_json: bool,
) -> int:
    output.message(f"Building the sandbox in {root}...")
    with _world(root, options, clock) as world:
        injected = _inject_faults(world, options.faults)
        env_file = root / "sandbox.env"
        env_file.write_text("".join(f"export {k}={v}\n" for k, v in world.env.items() if v), encoding="utf-8")
        env_file.chmod(0o600)
        servers = _servers(world, options)
        flux = getattr(world, "flux", None) is not None
        if as_json:
            output.json(
                {
                    "directory": str(root),
                    "config": str(world.config_path),
                    "kubeconfig": str(root / "kubeconfig.yaml"),
                    "env_file": str(env_file),
                    "repository": str(world.repo.path),
                    "mode": options.mode,
                    "servers": servers,
                    "flux": flux,
                    "faults": injected,
                    "providers": options.providers,
                }
            )
        else:
            banner = _banner(
                root, world, options=options, servers=servers, flux=flux, injected=injected, env_file=env_file
            )
            output.result(banner)
        try:
            _until_stopped(stop)
        except KeyboardInterrupt:  # the documented way to stop it: not an interrupted command
            output.message("Stopped.")
    return 0


def _until_stopped(stop: threading.Event | None) -> None:
    """Block until ``stop`` is set (None: until Ctrl-C)."""
    (stop or threading.Event()).wait()


def _banner(
    root: Path,
    world: SandboxWorld | GitOpsSandbox,
    *,
    options: SandboxOptions,
    servers: dict[str, str],
    flux: bool,
    injected: list[str],
    env_file: Path,
) -> str:
    lines = [
        f"Image Factory simulator: {servers['imagefactory']}",
        f"Kubernetes simulator:    {servers['kubernetes']}  (kubeconfig: {root / 'kubeconfig.yaml'})",
    ]
    if "argocd" in servers:
        lines.append(f"Argo CD simulator:       {servers['argocd']}")
    if flux:
        lines.append("Flux simulator:          GitRepository and Kustomization in flux-system (kubectl get ks -A)")
    if options.scm in servers:
        label = {"github": "GitHub", "gitlab": "GitLab"}.get(options.scm, options.scm) + " simulator:"
        lines.append(f"{label:<25}{servers[options.scm]}")
    lines += injected
    one = " --provider sandbox-01" if options.providers > 1 else ""
    lines += [
        f"Git repository:          {world.repo.path}",
        f"Config:                  {world.config_path}",
        "",
        "In another shell:",
        f"  source {env_file}    # sets the tokens (they are not printed)",
        f"  python -m gitrollback assess --config {world.config_path}{one}",
        f"  python -m gitrollback plan   --config {world.config_path}{one}",
        f"  python -m gitrollback run    --config {world.config_path}{one} --yes",
        *(
            [f"  python -m gitrollback run    --config {world.config_path} --all-failed --parallel 4 --yes"]
            if options.providers > 1
            else []
        ),
        "",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)
