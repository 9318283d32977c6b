"""Config parsing: every problem names the file, the key and what to do."""

from __future__ import annotations

import pytest

from gitrollback.config import parse_config
from gitrollback.errors import ConfigError
from gitrollback.secrets import resolve_secret
from gitrollback.settings import CODE_REQUIRED_TASKS, RUNBOOK_REQUIRED_TASKS, SecretRef

TENANT = "6f1c2a9e-3b7d-4e0a-9c51-2d8f0b6a7e41"
PROVIDER = "0b8e6f1e-7c2a-4d3b-8e9f-1a2b3c4d5e6f"

GOOD = f"""
imagefactory:
  url: https://if.example.com/
  tenant_id: {TENANT}
  auth: {{token_env: IF_TOKEN}}
providers:
  - id: {PROVIDER}
    name: prod
    assets: {{repo: /srv/git/imagefactory, branch: release}}
    cluster: {{kubeconfig: ~/.kube/prod, context: prod, namespace: image-factory-6f1c2a9e}}
    verify: {{required_tasks: runbook, probe_pvc: true}}
    smoke_build:
      project_id: {TENANT}
      manifest: {{name: smoke, type: kaniko}}
"""


def test_valid_config_parses_with_defaults() -> None:
    """A minimal valid config gets the documented defaults."""
    s = parse_config(GOOD, source="gr.yaml")
    assert s.imagefactory.url == "https://if.example.com"
    assert s.imagefactory.token == SecretRef(env="IF_TOKEN", key="imagefactory.auth.token_env")
    p = s.provider("prod")
    assert p is s.provider(PROVIDER) is s.provider(None)
    assert p.assets.path == "backend/tekton" and p.assets.branch == "release"
    assert p.cluster.field_manager == "image-factory-tekton-installer" and p.cluster.force
    assert p.verify.required_tasks == RUNBOOK_REQUIRED_TASKS and p.verify.probe_pvc
    assert p.smoke_build is not None and p.smoke_build.timeout == 900.0


def test_required_tasks_default_to_the_code_list() -> None:
    """Without verify.required_tasks the check uses Image Factory's code list, not the runbook's."""
    s = parse_config(GOOD.replace("required_tasks: runbook, ", ""))
    assert s.providers[0].verify.required_tasks == CODE_REQUIRED_TASKS


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ("url: https://if.example.com/", "url: ftp://x", "imagefactory.url", "http(s) URL"),
        (f"tenant_id: {TENANT}", "tenant_id: acme", "imagefactory.tenant_id", "UUID"),
        ("auth: {token_env: IF_TOKEN}", "auth: {token: abc}", "imagefactory.auth.token", "literal token"),
        ("auth: {token_env: IF_TOKEN}", "auth: {email: a@b.c}", "imagefactory.auth", "needs token_env"),
        ("context: prod,", "contxt: prod,", "providers[0].cluster.contxt", "unknown key"),
        ("namespace: image-factory-6f1c2a9e", "namespace: Bad_NS", "providers[0].cluster.namespace", "DNS label"),
        ("name: prod\n", "name: prod\n    mode: helm\n", "providers[0].mode", "gitops or image_factory_installer"),
        ("probe_pvc: true", "probe_pvc: yes-please", "providers[0].verify.probe_pvc", "true or false"),
        (
            "manifest: {name: smoke, type: kaniko}",
            "manifest: {name: smoke}",
            "providers[0].smoke_build.manifest",
            "name and type",
        ),
    ],
)
def test_bad_values_name_file_and_key(old: str, new: str, key: str, problem: str) -> None:
    """Each invalid value raises one ConfigError naming the file and the dotted key."""
    with pytest.raises(ConfigError) as info:
        parse_config(GOOD.replace(old, new), source="gr.yaml")
    assert info.value.path == "gr.yaml"
    assert info.value.key == key
    assert problem in str(info.value)
    assert str(info.value).startswith(f"gr.yaml: {key}: ")


def test_malformed_yaml_names_the_line() -> None:
    """Broken YAML is reported with the file and line number."""
    with pytest.raises(ConfigError, match=r"gr.yaml: not valid YAML: .*line 3"):
        parse_config("imagefactory:\n  url: x\n  - broken\n", source="gr.yaml")


def test_empty_and_non_mapping_files_are_refused() -> None:
    """An empty file or a list at the top level is a clear error."""
    with pytest.raises(ConfigError, match="empty"):
        parse_config("", source="gr.yaml")
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_config("- a\n", source="gr.yaml")


def test_unknown_provider_lists_the_known_ones() -> None:
    """Asking for a provider that is not configured names the configured ones in the hint."""
    s = parse_config(GOOD)
    with pytest.raises(ConfigError, match="unknown provider 'staging'") as info:
        s.provider("staging")
    assert info.value.hint is not None and "prod" in info.value.hint


def test_duplicate_providers_are_refused() -> None:
    """Two providers with the same id are refused."""
    doubled = GOOD + GOOD[GOOD.index("  - id:") :].replace("name: prod", "name: prod2")
    with pytest.raises(ConfigError, match=r"providers\[1\].*duplicates providers\[0\]"):
        parse_config(doubled)


def test_secrets_resolve_from_env_and_files() -> None:
    """Secret references read the named variable or file and never echo a value in errors."""
    assert resolve_secret(SecretRef(env="T"), env={"T": " abc \n"}, read_file=None) == "abc"
    assert resolve_secret(SecretRef(file="/x"), env={}, read_file=lambda p: "tok\n") == "tok"
    with pytest.raises(ConfigError, match="environment variable T is not set") as info:
        resolve_secret(SecretRef(env="T", key="imagefactory.auth.token_env"), env={}, read_file=None, source="gr.yaml")
    assert info.value.key == "imagefactory.auth.token_env"

    def missing(path: str) -> str:
        raise FileNotFoundError(2, "No such file or directory", path)

    with pytest.raises(ConfigError, match="cannot read secret file /x: No such file"):
        resolve_secret(SecretRef(file="/x"), env={}, read_file=missing)


def _gitops(sync: str, scm: str = "scm: direct") -> str:
    return GOOD + f"    mode: gitops\n    gitops: {{{scm}}}\n    sync: {{{sync}}}\n"


def test_flux_sync_section_parses_with_its_defaults() -> None:
    """engine: flux names a Kustomization; namespace, suspension, dependents and request timeout have defaults."""
    p = parse_config(_gitops("engine: flux, kustomization: tekton"), source="gr.yaml").provider(None)
    assert p.sync is not None
    assert (p.sync.engine, p.sync.app, p.sync.namespace) == ("flux", "tekton", "flux-system")
    assert (p.sync.on_suspended, p.sync.wait_for_dependents, p.sync.token) == ("refuse", False, None)
    assert p.sync.request_timeout == 30.0
    warned = parse_config(
        _gitops(
            "engine: flux, kustomization: t, namespace: gitops, on_suspended: warn, wait_for_dependents: true, "
            "request_timeout_seconds: 5"
        ),
        source="gr.yaml",
    ).provider(None)
    assert warned.sync is not None and (warned.sync.namespace, warned.sync.on_suspended) == ("gitops", "warn")
    assert warned.sync.wait_for_dependents and warned.sync.request_timeout == 5.0


@pytest.mark.parametrize(
    ("sync", "key", "problem"),
    [
        ("engine: flux", "providers[0].sync.kustomization", "is required"),
        ("engine: flux, kustomization: t, url: https://argo.example", "providers[0].sync.url", "not a setting"),
        (
            "engine: argocd, url: https://a.example, app: x, kustomization: t",
            "providers[0].sync.kustomization",
            "not a",
        ),
        ("engine: flux, kustomization: t, on_suspended: ignore", "providers[0].sync.on_suspended", "must be one of"),
        ("engine: Flux!", "providers[0].sync.engine", "must be an adapter name"),
    ],
)
def test_sync_settings_each_engine_refuses_what_it_does_not_read(sync: str, key: str, problem: str) -> None:
    """Keys of another engine, a missing Kustomization and a malformed engine name name the key."""
    with pytest.raises(ConfigError) as info:
        parse_config(_gitops(sync), source="gr.yaml")
    assert info.value.key == key and problem in info.value.problem


def test_plugin_names_and_options_pass_through_to_the_plugin() -> None:
    """A plugin's scm and engine names are accepted as written, with their own options mapping."""
    p = parse_config(
        _gitops("engine: mycontroller, app: tekton, options: {region: eu}", scm="scm: gitea, options: {org: acme}"),
        source="gr.yaml",
    ).provider(None)
    assert p.gitops is not None and p.sync is not None
    assert (p.gitops.scm, dict(p.gitops.options), p.gitops.token) == ("gitea", {"org": "acme"}, None)
    assert (p.sync.engine, p.sync.app, dict(p.sync.options)) == ("mycontroller", "tekton", {"region": "eu"})


def test_merge_when_pipeline_succeeds_is_a_gitlab_option() -> None:
    """gitops.merge_when_pipeline_succeeds defaults to false, is read for scm gitlab, and refused for github."""
    gitops = "    gitops: {scm: SCM, project: acme/gitops, auto_merge: true, merge_when_pipeline_succeeds: true}\n"
    text = GOOD.replace("    name: prod\n", "    name: prod\n    mode: gitops\n" + gitops)
    gitlab = parse_config(text.replace("SCM", "gitlab")).providers[0].gitops
    assert gitlab is not None and gitlab.merge_when_pipeline_succeeds and gitlab.auto_merge
    plain = parse_config(text.replace("SCM", "gitlab").replace(", merge_when_pipeline_succeeds: true", ""))
    assert plain.providers[0].gitops is not None and not plain.providers[0].gitops.merge_when_pipeline_succeeds
    with pytest.raises(ConfigError) as info:
        parse_config(text.replace("SCM", "github"), source="gr.yaml")
    assert info.value.key == "providers[0].gitops.merge_when_pipeline_succeeds"
    assert "needs scm gitlab" in str(info.value)
