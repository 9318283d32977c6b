"""Parse and validate a gitrollback config file into ``Settings``. Pure: text in, settings out.

Every problem becomes one ``ConfigError`` naming the file, the dotted key and what is wrong, so a typo in
``providers[0].cluster.kubeconfg`` is reported as an unknown key rather than silently ignored. Secrets are
references (``token_env``, ``token_file``, ``password_env``, ``password_file``); a literal ``token:`` is refused
so a token never ends up committed in a config file.

Example::

    imagefactory:
      url: https://imagefactory.example.com
      tenant_id: 6f1c2a9e-0000-4000-8000-000000000001
      auth: {token_env: IMAGEFACTORY_TOKEN}
    providers:
      - id: 0b8e6f1e-0000-4000-8000-000000000002
        name: prod-eks
        assets: {repo: https://git.example.com/platform/imagefactory.git, branch: main, path: backend/tekton}
        cluster: {kubeconfig: ~/.kube/prod.yaml, context: prod}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from gitrollback import _yaml
from gitrollback.errors import ConfigError
from gitrollback.settings import (
    CODE_REQUIRED_TASKS,
    RUNBOOK_REQUIRED_TASKS,
    WATCH_POLICIES,
    AssetLimits,
    AssetSettings,
    ClusterSettings,
    EscalationSettings,
    GitOpsSettings,
    ImageFactorySettings,
    LeaderElectionSettings,
    LockSettings,
    ProviderSettings,
    SecretRef,
    Settings,
    SmokeBuildSettings,
    SyncSettings,
    VerifySettings,
    WatchSettings,
)

__all__ = ["parse_config"]

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
#: ``Kind`` (core group) or ``Kind.group``, as in ``Deployment.apps`` or ``Task.tekton.dev``.
_QUALIFIED_KIND = re.compile(r"^[A-Z][A-Za-z0-9]*(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_ADAPTER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
T = TypeVar("T")


class _Section:
    """One mapping in the file, with its dotted key, that reports its own problems."""

    def __init__(self, data: Any, key: str, source: str, allowed: set[str]) -> None:
        self.source = source
        self.key = key
        if not isinstance(data, Mapping):
            raise self.error("must be a mapping", key)
        self.data: Mapping[str, Any] = data
        unknown = sorted(str(k) for k in data if k not in allowed)
        if unknown:
            raise self.error(
                f"unknown key {unknown[0]!r}",
                f"{key}.{unknown[0]}" if key else unknown[0],
                hint="allowed keys here: " + ", ".join(sorted(allowed)),
            )

    def error(self, problem: str, key: str | None = None, hint: str | None = None) -> ConfigError:
        return ConfigError(problem, path=self.source, key=key or self.key or None, hint=hint)

    def path(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def _get(self, name: str, kind: type[T] | tuple[type, ...], required: bool, what: str) -> Any:
        if name not in self.data or self.data[name] is None:
            if required:
                raise self.error(f"is required ({what})", self.path(name))
            return None
        value = self.data[name]
        if isinstance(value, bool) and kind is not bool and kind != (int, float):
            raise self.error(f"must be {what}, not a boolean", self.path(name))
        if not isinstance(value, kind):
            raise self.error(f"must be {what}, got {type(value).__name__}", self.path(name))
        return value

    def text(self, name: str, *, required: bool = False, default: str | None = None) -> Any:
        value = self._get(name, str, required, "a string")
        if value is not None and not value.strip():
            raise self.error("must not be empty", self.path(name))
        return value if value is not None else default

    def flag(self, name: str, default: bool) -> bool:
        value = self._get(name, bool, False, "true or false")
        return default if value is None else bool(value)

    def number(self, name: str, default: float) -> float:
        value = self._get(name, (int, float), False, "a number")
        if value is None:
            return default
        if value <= 0:
            raise self.error("must be greater than 0", self.path(name))
        return float(value)

    def count(self, name: str, default: int, *, maximum: int | None = None) -> int:
        value = self._get(name, int, False, "a whole number")
        if value is None:
            return default
        if value <= 0:
            raise self.error("must be greater than 0", self.path(name))
        if maximum is not None and value > maximum:
            raise self.error(f"must be at most {maximum}", self.path(name))
        return int(value)

    def kinds(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        listed = self.names(name)
        if listed is None:
            return default
        for kind in listed:
            if not _QUALIFIED_KIND.match(kind):
                raise self.error(
                    f"{kind!r} is not Kind (core group) or Kind.group, e.g. ConfigMap or Task.tekton.dev",
                    self.path(name),
                )
        return listed

    def uuid(self, name: str, *, required: bool = False) -> Any:
        value = self.text(name, required=required)
        if value is not None and not _UUID.match(value):
            raise self.error(f"must be a lowercase UUID, got {value!r}", self.path(name))
        return value

    def section(self, name: str, allowed: set[str], *, required: bool = False) -> _Section | None:
        if name not in self.data or self.data[name] is None:
            if required:
                raise self.error("is required", self.path(name))
            return None
        return _Section(self.data[name], self.path(name), self.source, allowed)

    def names(self, name: str) -> tuple[str, ...] | None:
        value = self._get(name, list, False, "a list of names")
        if value is None:
            return None
        if not all(isinstance(v, str) and v for v in value):
            raise self.error("must be a list of non-empty strings", self.path(name))
        return tuple(value)


def _secret(sec: _Section, what: str) -> SecretRef | None:
    env, file = sec.text(f"{what}_env"), sec.text(f"{what}_file")
    if what in sec.data:
        raise sec.error(
            f"a literal {what} is not allowed in the config file",
            sec.path(what),
            hint=f"put it in an environment variable or a file and name it with {what}_env or {what}_file",
        )
    if env and file:
        raise sec.error(f"set only one of {what}_env and {what}_file", sec.path(f"{what}_env"))
    if env or file:
        return SecretRef(env=env, file=file, key=sec.path(f"{what}_env" if env else f"{what}_file"))
    return None


def _imagefactory(root: _Section) -> ImageFactorySettings:
    sec = root.section(
        "imagefactory",
        {
            "url",
            "tenant_id",
            "auth",
            "all_tenants",
            "timeout_seconds",
            "poll_interval_seconds",
            "ca_file",
            "insecure_skip_tls_verify",
            "adapter",
        },
        required=True,
    )
    assert sec is not None
    url = sec.text("url", required=True)
    if not re.match(r"^https?://[^/\s]+", url):
        raise sec.error(f"must be an http(s) URL, got {url!r}", sec.path("url"))
    auth = sec.section(
        "auth",
        {"token", "token_env", "token_file", "email", "password", "password_env", "password_file"},
        required=True,
    )
    assert auth is not None
    token, password, email = _secret(auth, "token"), _secret(auth, "password"), auth.text("email")
    if token is None and not (email and password):
        raise auth.error(
            "needs token_env/token_file, or email with password_env/password_file",
            hint="e.g. auth: {token_env: IMAGEFACTORY_TOKEN}",
        )
    return ImageFactorySettings(
        url=url.rstrip("/"),
        tenant_id=sec.uuid("tenant_id", required=True),
        token=token,
        email=email,
        password=password,
        all_tenants=sec.flag("all_tenants", True),
        timeout=sec.number("timeout_seconds", 30.0),
        poll_interval=sec.number("poll_interval_seconds", 2.0),
        verify_tls=not sec.flag("insecure_skip_tls_verify", False),
        ca_file=sec.text("ca_file"),
        adapter=_name(sec, "adapter", "httpx"),
    )


def _name(sec: _Section, key: str, default: str) -> str:
    """An adapter's name: a built-in or a plugin's (checked against the registry when adapters are built)."""
    value = sec.text(key, default=default)
    if not _ADAPTER_NAME.match(value):
        raise sec.error(f"must be an adapter name (lowercase letters, digits, . _ -), got {value!r}", sec.path(key))
    return str(value)


def _options(sec: _Section) -> dict[str, Any]:
    """A plugin's own settings, passed to it as they are."""
    value = sec._get("options", Mapping, False, "a mapping (the adapter's own settings)")
    return dict(value) if value is not None else {}


def _verify(sec: _Section | None) -> VerifySettings:
    if sec is None:
        return VerifySettings()
    tasks_value = sec.data.get("required_tasks")
    tasks: tuple[str, ...]
    if tasks_value is None or tasks_value == "imagefactory":
        tasks = CODE_REQUIRED_TASKS
    elif tasks_value == "runbook":
        tasks = RUNBOOK_REQUIRED_TASKS
    else:
        listed = sec.names("required_tasks")
        if listed is None:  # pragma: no cover - names() raises for every other type
            raise sec.error("invalid", sec.path("required_tasks"))
        tasks = listed
    return VerifySettings(
        required_tasks=tasks,
        required_pipelines=sec.names("required_pipelines"),
        installer_validate=sec.flag("installer_validate", True),
        readiness=sec.flag("readiness", True),
        probe_pvc=sec.flag("probe_pvc", False),
        probe_rbac=sec.flag("probe_rbac", False),
        job_timeout=sec.number("job_timeout_seconds", 600.0),
    )


def _smoke(sec: _Section | None) -> SmokeBuildSettings | None:
    if sec is None or sec.data.get("enabled") is False:
        return None
    manifest = sec._get("manifest", Mapping, True, "a mapping (the BuildManifest of POST /builds)")
    if not manifest.get("name") or not manifest.get("type"):
        raise sec.error("needs at least name and type", sec.path("manifest"))
    return SmokeBuildSettings(
        project_id=sec.uuid("project_id", required=True),
        manifest=dict(manifest),
        tenant_id=sec.uuid("tenant_id"),
        timeout=sec.number("timeout_seconds", 900.0),
    )


_DEFAULT_TOKEN_ENV = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN"}
_DEFAULT_BASE_URL = {"github": "https://api.github.com", "gitlab": "https://gitlab.com"}


def _choice(sec: _Section, name: str, choices: tuple[str, ...], default: str | None = None) -> Any:
    value = sec.text(name, required=default is None, default=default)
    if value not in choices:
        raise sec.error(f"must be one of {', '.join(choices)}, got {value!r}", sec.path(name))
    return value


def _gitops(sec: _Section | None) -> GitOpsSettings | None:
    if sec is None:
        return None
    scm = _name(sec, "scm", "") if sec.data.get("scm") else sec.text("scm", required=True)
    project = sec.text("project")
    if scm in ("github", "gitlab") and not project:
        raise sec.error(f"is required for scm {scm} (owner/name or group/project)", sec.path("project"))
    token = _secret(sec, "token")
    if token is None and scm in _DEFAULT_TOKEN_ENV:
        token = SecretRef(env=_DEFAULT_TOKEN_ENV[scm], key=sec.path("token_env"))
    when_pipeline_succeeds = sec.flag("merge_when_pipeline_succeeds", False)
    if when_pipeline_succeeds and scm != "gitlab":
        raise sec.error("is a GitLab merge option; it needs scm gitlab", sec.path("merge_when_pipeline_succeeds"))
    return GitOpsSettings(
        scm=scm,
        project=project,
        base_url=(sec.text("base_url") or _DEFAULT_BASE_URL.get(scm, "")).rstrip("/") or None,
        token=token,
        strategy=_choice(sec, "strategy", ("restore", "revert"), "restore"),
        auto_merge=sec.flag("auto_merge", False),
        wait_for_merge=sec.flag("wait_for_merge", True),
        merge_timeout=sec.number("merge_timeout_seconds", 3600.0),
        merge_when_pipeline_succeeds=when_pipeline_succeeds,
        labels=sec.names("labels") or (),
        reviewers=sec.names("reviewers") or (),
        author_name=sec.text("author_name", default="gitrollback"),
        author_email=sec.text("author_email", default="gitrollback@localhost"),
        markers=sec.flag("markers", True),
        poll_interval=sec.number("poll_interval_seconds", 5.0),
        request_timeout=sec.number("request_timeout_seconds", 30.0),
        workspace=_name(sec, "workspace", "git"),
        options=_options(sec),
    )


#: keys only one built-in sync engine reads (a plugin gets every key but these)
_ARGOCD_ONLY = {
    "url",
    "project",
    "on_operation_in_progress",
    "insecure_skip_tls_verify",
    "ca_file",
}
_FLUX_ONLY = {"kustomization", "namespace", "kubeconfig", "context", "on_suspended", "wait_for_dependents"}


def _sync(sec: _Section | None) -> SyncSettings | None:
    if sec is None:
        return None
    engine = _name(sec, "engine", "") if sec.data.get("engine") else sec.text("engine", required=True)
    if engine == "none":
        return SyncSettings(engine="none")
    foreign = {"argocd": _FLUX_ONLY | {"options"}, "flux": _ARGOCD_ONLY | {"app", "options"}}.get(engine, _FLUX_ONLY)
    for key in sorted(foreign & set(sec.data)):
        raise sec.error(f"is not a setting of sync engine {engine!r}", sec.path(key))
    common: dict[str, Any] = {
        "prune": sec.flag("prune", False),
        "timeout": sec.number("timeout_seconds", 600.0),
        "poll_interval": sec.number("poll_interval_seconds", 2.0),
        "request_timeout": sec.number("request_timeout_seconds", 30.0),
    }
    if engine == "flux":
        namespace = sec.text("namespace", default="flux-system")
        if not _DNS_LABEL.match(namespace):
            raise sec.error(f"must be a DNS label, got {namespace!r}", sec.path("namespace"))
        return SyncSettings(
            engine="flux",
            app=sec.text("kustomization", required=True),
            namespace=namespace,
            token=_secret(sec, "token"),
            kubeconfig=sec.text("kubeconfig"),
            context=sec.text("context"),
            on_suspended=_choice(sec, "on_suspended", ("refuse", "warn"), "refuse"),
            wait_for_dependents=sec.flag("wait_for_dependents", False),
            **common,
        )
    if engine != "argocd":
        url = sec.text("url")
        return SyncSettings(
            engine=engine,
            app=sec.text("app", default=""),
            url=url.rstrip("/") if url else None,
            project=sec.text("project"),
            token=_secret(sec, "token"),
            verify_tls=not sec.flag("insecure_skip_tls_verify", False),
            ca_file=sec.text("ca_file"),
            options=_options(sec),
            **common,
        )
    token = _secret(sec, "token") or SecretRef(env="ARGOCD_AUTH_TOKEN", key=sec.path("token_env"))
    url = sec.text("url", required=True)
    if not re.match(r"^https?://[^/\s]+", url):
        raise sec.error(f"must be an http(s) URL, got {url!r}", sec.path("url"))
    return SyncSettings(
        engine="argocd",
        app=sec.text("app", required=True),
        url=url.rstrip("/"),
        project=sec.text("project"),
        token=token,
        on_operation_in_progress=_choice(sec, "on_operation_in_progress", ("wait", "terminate"), "wait"),
        verify_tls=not sec.flag("insecure_skip_tls_verify", False),
        ca_file=sec.text("ca_file"),
        **common,
    )


def _limits(sec: _Section | None) -> AssetLimits:
    default = AssetLimits()
    if sec is None:
        return default
    return AssetLimits(
        file_bytes=sec.count("file_bytes", default.file_bytes),
        total_bytes=sec.count("total_bytes", default.total_bytes),
        documents=sec.count("documents", default.documents),
        depth=sec.count("depth", default.depth, maximum=500),  # the builder recurses once per level
        nodes=sec.count("nodes", default.nodes),
    )


def _provider(data: Any, index: int, source: str) -> ProviderSettings:
    sec = _Section(
        data,
        f"providers[{index}]",
        source,
        {"id", "name", "mode", "assets", "cluster", "verify", "smoke_build", "gitops", "sync"},
    )
    mode = sec.text("mode")
    if mode is not None and mode not in ("gitops", "image_factory_installer"):
        raise sec.error(f"must be gitops or image_factory_installer, got {mode!r}", sec.path("mode"))
    assets = sec.section(
        "assets",
        {"repo", "branch", "path", "profile", "tag_pattern", "limits", "adapter", "stall_timeout_seconds"},
        required=True,
    )
    assert assets is not None
    asset_path = assets.text("path", default="backend/tekton").strip("/")
    limits = _limits(assets.section("limits", {"file_bytes", "total_bytes", "documents", "depth", "nodes"}))
    cluster = sec.section(
        "cluster",
        {
            "kubeconfig",
            "context",
            "token_env",
            "token_file",
            "namespace",
            "field_manager",
            "force",
            "adapter",
            "kinds",
            "cluster_scoped_kinds",
            "prune",
            "apply_parallelism",
            "timeout_seconds",
        },
    )
    cluster_settings = ClusterSettings()
    if cluster is not None:
        namespace = cluster.text("namespace")
        if namespace is not None and not _DNS_LABEL.match(namespace):
            raise cluster.error(f"must be a DNS label, got {namespace!r}", cluster.path("namespace"))
        field_manager = cluster.text("field_manager", default=cluster_settings.field_manager)
        if len(field_manager) > 128:
            raise cluster.error("must be at most 128 characters", cluster.path("field_manager"))
        cluster_settings = ClusterSettings(
            kubeconfig=cluster.text("kubeconfig"),
            context=cluster.text("context"),
            token=_secret(cluster, "token"),
            namespace=namespace,
            field_manager=field_manager,
            force=cluster.flag("force", True),
            adapter=_name(cluster, "adapter", "lightkube"),
            kinds=cluster.kinds("kinds", cluster_settings.kinds),
            cluster_scoped_kinds=cluster.kinds("cluster_scoped_kinds", ()),
            prune=cluster.flag("prune", False),
            apply_parallelism=cluster.count("apply_parallelism", cluster_settings.apply_parallelism, maximum=64),
            timeout=cluster.number("timeout_seconds", 30.0),
        )
    verify = _verify(
        sec.section(
            "verify",
            {
                "required_tasks",
                "required_pipelines",
                "installer_validate",
                "readiness",
                "probe_pvc",
                "probe_rbac",
                "job_timeout_seconds",
            },
        )
    )
    smoke = _smoke(sec.section("smoke_build", {"enabled", "project_id", "tenant_id", "manifest", "timeout_seconds"}))
    return ProviderSettings(
        id=sec.uuid("id", required=True),
        name=sec.text("name"),
        mode=mode,
        assets=AssetSettings(
            repo=assets.text("repo", required=True),
            branch=assets.text("branch", default="main"),
            path=asset_path,
            profile=assets.text("profile"),
            tag_pattern=assets.text("tag_pattern"),
            limits=limits,
            stall_timeout=assets.number("stall_timeout_seconds", 60.0),
            adapter=_name(assets, "adapter", "git"),
        ),
        cluster=cluster_settings,
        verify=verify,
        smoke_build=smoke,
        gitops=_gitops(
            sec.section(
                "gitops",
                {
                    "scm",
                    "project",
                    "base_url",
                    "token_env",
                    "token_file",
                    "token",
                    "strategy",
                    "auto_merge",
                    "wait_for_merge",
                    "merge_timeout_seconds",
                    "merge_when_pipeline_succeeds",
                    "labels",
                    "reviewers",
                    "author_name",
                    "author_email",
                    "markers",
                    "poll_interval_seconds",
                    "request_timeout_seconds",
                    "workspace",
                    "options",
                },
            )
        ),
        sync=_sync(
            sec.section(
                "sync",
                {
                    "engine",
                    "app",
                    "url",
                    "project",
                    "token_env",
                    "token_file",
                    "token",
                    "prune",
                    "on_operation_in_progress",
                    "timeout_seconds",
                    "insecure_skip_tls_verify",
                    "ca_file",
                    "poll_interval_seconds",
                    "request_timeout_seconds",
                    "kustomization",
                    "namespace",
                    "kubeconfig",
                    "context",
                    "on_suspended",
                    "wait_for_dependents",
                    "options",
                },
            )
        ),
    )


def parse_config(text: str, *, source: str = "<config>") -> Settings:
    """Validate config text and return ``Settings``.

    Raises:
        ConfigError: naming ``source``, the dotted key and the problem.
    """
    try:
        data = _yaml.load(text)
    except _yaml.YamlSyntaxError as exc:
        raise ConfigError(f"not valid YAML: {exc}", path=source, hint="fix the YAML syntax at that line") from exc
    if data is None:
        raise ConfigError("the file is empty", path=source, hint="see docs/configuration.md for an example")
    root = _Section(data, "", source, {"imagefactory", "providers", "state_dir", "lock", "escalation", "watch"})
    imagefactory = _imagefactory(root)
    raw_providers = root.data.get("providers")
    if not isinstance(raw_providers, list) or not raw_providers:
        raise root.error("must be a non-empty list", "providers")
    providers = tuple(_provider(p, i, source) for i, p in enumerate(raw_providers))
    seen: dict[str, int] = {}
    for i, p in enumerate(providers):
        for label in {p.id, p.name} - {None}:
            if label in seen:
                raise root.error(f"duplicates providers[{seen[label]}] ({label})", f"providers[{i}]")
            seen[str(label)] = i
    return Settings(
        imagefactory=imagefactory,
        providers=providers,
        state_dir=root.text("state_dir"),
        source=source,
        lock=_lock(root.section("lock", {"lease_seconds"})),
        escalation=_escalation(root.section("escalation", {"enabled", "after_failures"})),
        watch=_watch(root.section("watch", _WATCH_KEYS), providers),
    )


def _whole(sec: _Section, name: str, default: int, *, least: int) -> int:
    value = sec.number(name, float(default))
    if value != int(value) or value < least:
        raise sec.error(f"must be a whole number of at least {least}, got {value:g}", sec.path(name))
    return int(value)


def _lock(sec: _Section | None) -> LockSettings:
    if sec is None:
        return LockSettings()
    # a Lease shorter than one blocking call (a 30 s request timeout) could lapse while the run waits on it
    return LockSettings(lease_seconds=_whole(sec, "lease_seconds", LockSettings.lease_seconds, least=45))


def _escalation(sec: _Section | None) -> EscalationSettings:
    if sec is None:
        return EscalationSettings()
    return EscalationSettings(
        enabled=sec.flag("enabled", False),
        after_failures=_whole(sec, "after_failures", EscalationSettings.after_failures, least=1),
    )


_WATCH_KEYS = {
    "policy",
    "providers",
    "poll_interval_seconds",
    "rate_limit",
    "listen",
    "notes_dir",
    "stuck_after_seconds",
    "handled_history",
    "leader_election",
}
_LEADER_KEYS = {
    "enabled",
    "lease_name",
    "namespace",
    "kubeconfig",
    "context",
    "lease_duration_seconds",
    "renew_deadline_seconds",
    "retry_period_seconds",
}


def _policy(sec: _Section, name: str, value: Any) -> Any:
    if value not in WATCH_POLICIES:
        raise sec.error(f"must be one of {', '.join(WATCH_POLICIES)}, got {value!r}", sec.path(name))
    return value


def _listen(sec: _Section) -> str:
    value = sec.text("listen", default=WatchSettings.listen)
    _, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise sec.error(f"must be HOST:PORT, e.g. 0.0.0.0:8080, got {value!r}", sec.path("listen"))
    return str(value)


def _watch(sec: _Section | None, providers: tuple[ProviderSettings, ...]) -> WatchSettings:
    if sec is None:
        return WatchSettings()
    policy = _policy(sec, "policy", sec.text("policy", default=WatchSettings.policy))
    overrides: dict[str, Any] = {}
    raw = sec.section("providers", {label for p in providers for label in (p.id, p.name) if label})
    if raw is not None:
        for key, value in raw.data.items():
            overrides[str(key)] = _policy(raw, str(key), value)
    limit = sec.section("rate_limit", {"max_actions", "window_seconds"})
    defaults = WatchSettings()
    poll = sec.number("poll_interval_seconds", defaults.poll_interval)
    max_actions = limit.count("max_actions", defaults.max_actions) if limit else defaults.max_actions
    history = sec.count("handled_history", defaults.handled_history, maximum=1000)
    if history < max_actions:  # the rate limit counts the recorded actions (gitrollback.watch.handled.RateLimiter)
        raise sec.error(
            f"must be at least rate_limit.max_actions ({max_actions}): the rate limit is counted from this record",
            sec.path("handled_history"),
        )
    return WatchSettings(
        policy=policy,
        providers=overrides,
        poll_interval=poll,
        max_actions=max_actions,
        window=limit.number("window_seconds", defaults.window) if limit else defaults.window,
        listen=_listen(sec),
        notes_dir=sec.text("notes_dir"),
        stuck_after=sec.number("stuck_after_seconds", defaults.stuck_after),
        handled_history=history,
        leader_election=_leader(sec.section("leader_election", _LEADER_KEYS)),
    )


def _leader(sec: _Section | None) -> LeaderElectionSettings:
    defaults = LeaderElectionSettings()
    if sec is None:
        return defaults
    name = sec.text("lease_name", default=defaults.lease_name)
    if not _DNS_LABEL.match(name):
        raise sec.error(f"must be a DNS label (a Lease name), got {name!r}", sec.path("lease_name"))
    out = LeaderElectionSettings(
        enabled=sec.flag("enabled", True),
        lease_name=name,
        namespace=sec.text("namespace"),
        kubeconfig=sec.text("kubeconfig"),
        context=sec.text("context"),
        lease_duration=sec.number("lease_duration_seconds", defaults.lease_duration),
        renew_deadline=sec.number("renew_deadline_seconds", defaults.renew_deadline),
        retry_period=sec.number("retry_period_seconds", defaults.retry_period),
    )
    # client-go refuses the same (leaderelection.go, NewLeaderElector): the deadline must leave room to retry,
    # and a holder must give up before its Lease can lapse for the others
    # (LeaseDuration > RenewDeadline > JitterFactor 1.2 x RetryPeriod); the Lease holds whole seconds
    # (leaseDurationSeconds, written as client-go does: int(LeaseDuration / time.Second)), so those must exceed it
    if not int(out.lease_duration) > out.renew_deadline:
        raise sec.error(
            "must be greater than renew_deadline_seconds in whole seconds (the Lease keeps whole seconds)",
            sec.path("lease_duration_seconds"),
        )
    if not out.renew_deadline > 1.2 * out.retry_period:
        raise sec.error(
            "must be greater than 1.2 x retry_period_seconds (client-go's jitter factor)",
            sec.path("renew_deadline_seconds"),
        )
    if out.enabled and out.kubeconfig is None:
        raise sec.error(
            "is required when leader election is enabled (the cluster the Lease lives in)",
            sec.path("kubeconfig"),
            hint="point it at a kubeconfig, e.g. the in-cluster one of deploy/kubernetes/configmap.yaml",
        )
    return out
