"""The Image Factory simulator's auth, tenant scoping, provider, permission and readiness routes over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from gitrollback.assets import expand_assets
from gitrollback.testing._kube_catalog import CATALOG
from gitrollback.testing.clock import FakeClock
from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.imagefactory import ImageFactorySimulator
from gitrollback.testing.repos import fixture_root

NIL = "00000000-0000-0000-0000-000000000000"
FIXTURES = fixture_root()
TEXT = "text/plain; charset=utf-8"
REQUIRED_TASKS = [
    "git-clone",
    "docker-build",
    "buildx",
    "kaniko-no-push",
    "scan-image",
    "generate-sbom",
    "push-image",
    "packer",
]


@dataclass
class World:
    """A started simulator on a FakeClock (nothing ticks unless a test lets time pass)."""

    clock: FakeClock
    sim: ImageFactorySimulator
    cluster: ClusterState
    client: httpx.Client
    tenant: str
    other: str
    provider: str
    owner: str
    admin: str
    viewer: str
    stranger: str

    def h(self, token: str, tenant: str | None = None, **extra: str) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {token}", "X-Tenant-ID": tenant or self.tenant}
        headers.update(extra)
        return headers

    def p(self, suffix: str = "", provider: str | None = None) -> str:
        return f"/api/v1/admin/infrastructure/providers/{provider or self.provider}{suffix}"


@pytest.fixture
def world() -> Iterator[World]:
    clock = FakeClock()
    cluster = ClusterState(clock=clock)
    sim = ImageFactorySimulator(cluster, job_tick=5.0, build_tick=5.0, asset_root=FIXTURES, clock=clock)
    tenant = sim.add_tenant("acme")
    other = sim.add_tenant("globex")
    sim.add_user("owner@acme.test", "pw", tenant_id=tenant)
    sim.add_user("root@if.test", "pw", tenant_id=other, role="System Administrator")
    sim.add_user("viewer@acme.test", "pw", tenant_id=tenant, role="Viewer")
    sim.add_user("owner@globex.test", "pw", tenant_id=other)
    provider = sim.add_provider(tenant, "k8s", target_namespace="if-tekton")
    with sim, httpx.Client(base_url=sim.url, timeout=5) as client:
        yield World(
            clock,
            sim,
            cluster,
            client,
            tenant,
            other,
            provider,
            sim.issue_token("owner@acme.test"),
            sim.issue_token("root@if.test"),
            sim.issue_token("viewer@acme.test"),
            sim.issue_token("owner@globex.test"),
        )


def assert_text(response: httpx.Response, status: int, body: str) -> None:
    assert (response.status_code, response.text) == (status, body + "\n")
    assert response.headers["content-type"] == TEXT
    assert response.headers["x-content-type-options"] == "nosniff"


def install_objects(cluster: ClusterState, namespace: str) -> None:
    files = {p.relative_to(FIXTURES).as_posix(): p.read_bytes() for p in FIXTURES.rglob("*") if p.is_file()}
    cluster.ensure_namespace(namespace)
    for manifest in expand_assets(files):
        cluster.apply(dict(manifest.body), namespace=namespace, manager="test", force=True)


# -- auth ----------------------------------------------------------------------------------------------


def test_login_returns_a_token_that_authenticates(world: World) -> None:
    """Logging in with the right password yields an access token the provider routes accept."""
    reply = world.client.post("/api/v1/auth/login", json={"email": "owner@acme.test", "password": "pw"})
    assert reply.status_code == 200
    body = reply.json()
    assert set(body) >= {"user", "access_token", "refresh_token", "access_token_ttl", "access_token_expiry"}
    assert world.client.get(world.p(), headers=world.h(body["access_token"])).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"email": "owner@acme.test", "password": "nope"}, 401, "UNAUTHORIZED", "invalid credentials"),
        ({"email": "nobody@acme.test", "password": "pw"}, 401, "UNAUTHORIZED", "invalid credentials"),
        ({"password": "pw"}, 400, "BAD_REQUEST", "Email is required"),
        ({"email": "owner@acme.test"}, 400, "BAD_REQUEST", "Password is required"),
        ({"email": "owner", "password": "pw"}, 400, "BAD_REQUEST", "Invalid email format"),
    ],
)
def test_login_errors_are_json_code_and_message(
    world: World, body: dict[str, str], status: int, code: str, message: str
) -> None:
    """Login refusals are ``WriteError`` JSON ``{code, message}`` (auth_handler.go), not plain text."""
    reply = world.client.post("/api/v1/auth/login", json=body)
    assert (reply.status_code, reply.json()) == (status, {"code": code, "message": message})
    assert reply.headers["content-type"] == "application/json"


def test_login_body_that_does_not_decode_is_plain_text(world: World) -> None:
    """A login body that is not JSON is Go ``http.Error`` plain text, before any field check."""
    assert_text(world.client.post("/api/v1/auth/login", content=b"{"), 400, "Invalid request body")


def test_access_tokens_carry_the_go_claims_and_a_15_minute_lifetime(world: World) -> None:
    """Login hands out an HS256 JWT with user_id, email, iat, exp 900 s later and type access, as generateTokens."""
    import base64
    import json

    body = world.client.post("/api/v1/auth/login", json={"email": "owner@acme.test", "password": "pw"}).json()
    payload = body["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert (claims["type"], claims["email"], claims["exp"] - claims["iat"]) == ("access", "owner@acme.test", 900)
    assert (body["access_token_ttl"], body["access_token_expiry"]) == (900, claims["exp"])
    assert claims["user_id"] == body["user"]["id"]


def test_refresh_issues_a_new_pair_and_the_type_claim_is_never_checked(world: World) -> None:
    """A refresh token buys a new access token; neither ValidateToken nor RefreshToken (domain/user/service.go)
    reads the type claim, so an access token refreshes and a refresh token authenticates, as upstream."""
    login = world.client.post("/api/v1/auth/login", json={"email": "owner@acme.test", "password": "pw"}).json()
    reply = world.client.post("/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]})
    assert reply.status_code == 200
    assert world.client.get(world.p(), headers=world.h(reply.json()["access_token"])).status_code == 200
    assert world.client.post("/api/v1/auth/refresh", json={"refresh_token": login["access_token"]}).status_code == 200
    assert world.client.get(world.p(), headers=world.h(login["refresh_token"])).status_code == 200
    bad = world.client.post("/api/v1/auth/refresh", json={"refresh_token": "not.a.token"})
    assert_text(bad, 401, "Invalid refresh token")
    undecodable = world.client.post("/api/v1/auth/refresh", content=b"{")
    assert (undecodable.status_code, undecodable.json()) == (
        400,
        {"code": "BAD_REQUEST", "message": "Invalid request body"},
    )


def test_login_email_is_matched_exactly(world: World) -> None:
    """FindByEmail compares the email column as is (VARCHAR, WHERE email = $1): another case is unknown."""
    reply = world.client.post("/api/v1/auth/login", json={"email": "Owner@Acme.test", "password": "pw"})
    assert (reply.status_code, reply.json()["message"]) == (401, "invalid credentials")


@pytest.mark.parametrize(
    "authorization",
    ["", "Basic b3duZXI6cHc=", "Bearer not.a.token", "Bearer", "bearer {token}", "Bearer  {token}"],
)
def test_missing_or_bad_credentials_are_401_unauthorized(world: World, authorization: str) -> None:
    """No header, a wrong scheme or a malformed token all get `401 Unauthorized`."""
    headers = {"X-Tenant-ID": world.tenant}
    if authorization:  # the token is everything after the first space, untrimmed (strings.SplitN(h, " ", 2))
        headers["Authorization"] = authorization.format(token=world.owner)
    assert_text(world.client.get(world.p(), headers=headers), 401, "Unauthorized")


def test_a_token_expires_when_its_lifetime_of_simulated_time_has_passed(world: World) -> None:
    """An access token (15 min lifetime) works until 899 s of the clock's time have passed and is refused at 900 s."""
    token = world.sim.issue_token("owner@acme.test")
    world.clock.sleep(899)
    assert world.client.get(world.p(), headers=world.h(token)).status_code == 200
    world.clock.sleep(1)
    assert_text(world.client.get(world.p(), headers=world.h(token)), 401, "Unauthorized")


def test_expired_and_tampered_tokens_are_401(world: World) -> None:
    """An expired token and one with a forged signature are both refused."""
    expired = world.sim.issue_token("owner@acme.test", ttl=-5)
    assert_text(world.client.get(world.p(), headers=world.h(expired)), 401, "Unauthorized")
    head, payload, _ = world.owner.split(".")
    forged = f"{head}.{payload}.AAAA"
    assert_text(world.client.get(world.p(), headers=world.h(forged)), 401, "Unauthorized")


@pytest.mark.parametrize(
    ("tenant_header", "status", "body"),
    [
        (None, 400, "Tenant context required (set X-Tenant-ID)"),
        ("acme", 400, "Invalid tenant ID format"),
        (NIL, 400, "Invalid tenant ID"),
    ],
)
def test_tenant_header_rules(world: World, tenant_header: str | None, status: int, body: str) -> None:
    """X-Tenant-ID is required and must be a non-nil UUID, for system admins too."""
    headers = {"Authorization": f"Bearer {world.admin}"}
    if tenant_header is not None:
        headers["X-Tenant-ID"] = tenant_header
    assert_text(world.client.get(world.p(), headers=headers), status, body)


def test_non_member_tenant_is_403_no_access(world: World) -> None:
    """A non-admin naming a tenant it does not belong to gets `Forbidden: No access to tenant`."""
    reply = world.client.get(world.p(), headers=world.h(world.owner, world.other))
    assert_text(reply, 403, "Forbidden: No access to tenant")


def test_viewer_may_read_but_not_update(world: World) -> None:
    """RBAC: a Viewer reads providers but gets a plain `403 Forbidden` on PUT and on installer actions."""
    assert world.client.get(world.p(), headers=world.h(world.viewer)).status_code == 200
    assert_text(world.client.put(world.p(), headers=world.h(world.viewer), json={}), 403, "Forbidden")
    assert_text(world.client.post(world.p("/tekton/install"), headers=world.h(world.viewer)), 403, "Forbidden")


def test_password_change_gate_is_428_before_the_tenant_header(world: World) -> None:
    """A user who must change the password gets 428 on every route the rollback uses, even without X-Tenant-ID."""
    world.sim.add_user("new@acme.test", "pw", tenant_id=world.tenant, must_change_password=True)
    login = world.client.post("/api/v1/auth/login", json={"email": "new@acme.test", "password": "pw"}).json()
    assert login["requires_password_change"] is True
    token = login["access_token"]
    expected = "Password change required before accessing this endpoint"
    assert_text(world.client.get(world.p(), headers={"Authorization": f"Bearer {token}"}), 428, expected)
    assert_text(world.client.get(world.p("/tekton/status"), headers=world.h(token)), 428, expected)


def test_first_setup_gate_is_409_for_system_administrators_only(world: World) -> None:
    """While initial setup is required, a system admin gets 409 after the tenant checks; an Owner is let through."""
    world.sim.set_setup_required(True)
    expected = "Initial system setup is required before accessing this endpoint"
    assert_text(world.client.get(world.p(), headers=world.h(world.admin, world.tenant)), 409, expected)
    assert world.client.get(world.p(), headers=world.h(world.owner)).status_code == 200
    login = world.client.post("/api/v1/auth/login", json={"email": "root@if.test", "password": "pw"}).json()
    assert login["setup_required"] is True


def test_maintenance_is_checked_before_the_permission(world: World) -> None:
    """In maintenance mode a Viewer's write is a 503 although the Viewer may not write at all (403 otherwise)."""
    assert_text(world.client.put(world.p(), headers=world.h(world.viewer), json={}), 403, "Forbidden")
    world.sim.set_maintenance_mode(True)
    reply = world.client.put(world.p(), headers=world.h(world.viewer), json={})
    assert_text(reply, 503, "Service temporarily read-only for maintenance")
    assert world.client.get(world.p(), headers=world.h(world.viewer)).status_code == 200  # reads stay open
    admin = world.client.put(
        world.p(), headers=world.h(world.admin, world.tenant, **{"X-Tenant-Scope": "all"}), json={}
    )
    assert admin.status_code == 200  # system administrators are not blocked


def test_unknown_route_is_chi_404_and_wrong_method_is_405(world: World) -> None:
    """An unknown path answers `404 page not found`; a known path with another method answers 405."""
    assert_text(world.client.get("/api/v1/nope", headers=world.h(world.owner)), 404, "404 page not found")
    assert world.client.delete(world.p("/tekton/status"), headers=world.h(world.owner)).status_code == 405


# -- tenant scoping ------------------------------------------------------------------------------------


def test_provider_ids_are_validated_before_lookup(world: World) -> None:
    """A malformed id is 400 `Invalid provider ID`; an unknown one is 404 `Provider not found`."""
    assert_text(world.client.get(world.p(provider="xyz"), headers=world.h(world.owner)), 400, "Invalid provider ID")
    unknown = "11111111-2222-3333-4444-555555555555"
    assert_text(world.client.get(world.p(provider=unknown), headers=world.h(world.owner)), 404, "Provider not found")


def test_admin_scope_rules(world: World) -> None:
    """A system admin reaches a foreign provider only with all-tenant scope or its tenant."""
    own = world.h(world.admin, world.other)
    assert_text(world.client.get(world.p(), headers=own), 403, "Access denied to this tenant")
    assert world.client.get(world.p(), headers={**own, "X-Tenant-Scope": "all"}).status_code == 200
    assert world.client.get(world.p(), headers=own, params={"all_tenants": "yes"}).status_code == 200
    assert world.client.get(world.p(), headers=world.h(world.admin, world.tenant)).status_code == 200
    assert world.client.get(world.p(), headers=own, params={"tenant_id": world.tenant}).status_code == 200
    # ?tenant_id turns all-tenant scope off
    other_scope = world.client.get(
        world.p(), headers={**own, "X-Tenant-Scope": "all"}, params={"tenant_id": world.other}
    )
    assert_text(other_scope, 403, "Access denied to this tenant")
    assert_text(world.client.get(world.p(), headers=own, params={"tenant_id": NIL}), 400, "Invalid tenant_id")


def test_scope_is_resolved_before_the_provider_id_and_query_values_are_trimmed(world: World) -> None:
    """resolveScopedProviderAccess resolves the scope (tenant_id trimmed, an empty one ignored; all_tenants trimmed
    and lowercased) before it parses the provider id."""
    own = world.h(world.admin, world.other)
    reply = world.client.get(world.p(provider="xyz"), headers=own, params={"tenant_id": "acme"})
    assert_text(reply, 400, "Invalid tenant_id")
    assert world.client.get(world.p(), headers=world.h(world.owner), params={"tenant_id": ""}).status_code == 200
    padded = world.client.get(world.p(), headers=own, params={"tenant_id": f" {world.tenant} "})
    assert padded.status_code == 200
    assert world.client.get(world.p(), headers=own, params={"all_tenants": " YES "}).status_code == 200


def test_list_takes_tenant_id_from_admins_only(world: World) -> None:
    """ListProviders reads ?tenant_id only for system admins (untrimmed, its own error text) and after the
    include_prepare_summary check; a non-admin's tenant_id is ignored, not refused."""
    url = "/api/v1/admin/infrastructure/providers"
    world.sim.add_provider(world.other, "globex-k8s")
    mine = world.client.get(url, headers=world.h(world.owner), params={"tenant_id": world.other})
    assert [p["tenant_id"] for p in mine.json()["data"]] == [world.tenant]
    admin = world.h(world.admin, world.other)
    assert_text(
        world.client.get(url, headers=admin, params={"tenant_id": "x"}), 400, "Invalid tenant_id query parameter"
    )
    both = world.client.get(url, headers=admin, params={"tenant_id": "x", "include_prepare_summary": "maybe"})
    assert_text(both, 400, "Invalid include_prepare_summary query parameter")
    theirs = world.client.get(url, headers=admin, params={"tenant_id": world.tenant})
    assert [p["id"] for p in theirs.json()["data"]] == [world.provider]


def test_non_admin_cannot_use_all_scope_or_foreign_tenant_id(world: World) -> None:
    """A tenant owner's X-Tenant-Scope is ignored and a foreign ?tenant_id is 403."""
    headers = world.h(world.stranger, world.other, **{"X-Tenant-Scope": "all"})
    assert_text(world.client.get(world.p(), headers=headers), 403, "Access denied to this tenant")
    reply = world.client.get(
        world.p(), headers=world.h(world.stranger, world.other), params={"tenant_id": world.tenant}
    )
    assert_text(reply, 403, "Access denied to this tenant")


# -- providers -----------------------------------------------------------------------------------------


def test_list_is_tenant_scoped_and_paginated(world: World) -> None:
    """The list shows the scope tenant's providers newest first, paginated; all-scope shows all."""
    world.clock.sleep(1)  # created_at DESC: a later provider must be created at a later time
    second = world.sim.add_provider(world.tenant, "k8s-2")
    world.sim.add_provider(world.other, "globex-k8s")
    reply = world.client.get(
        "/api/v1/admin/infrastructure/providers", headers=world.h(world.owner), params={"limit": 1}
    )
    body = reply.json()
    assert [p["id"] for p in body["data"]] == [second]
    assert body["pagination"] == {"page": 1, "limit": 1, "total": 2, "total_pages": 2}
    everything = world.client.get(
        "/api/v1/admin/infrastructure/providers",
        headers=world.h(world.admin, world.other, **{"X-Tenant-Scope": "all"}),
    )
    assert everything.json()["pagination"]["total"] == 3


def test_put_replaces_the_whole_config(world: World) -> None:
    """PUT `config` is a full replace (no merge) and drops the `namespace` key for k8s providers."""
    current = world.client.get(world.p(), headers=world.h(world.owner)).json()["provider"]
    config = {"tekton_enabled": True, "runtime_auth": current["config"]["runtime_auth"], "namespace": "x"}
    reply = world.client.put(world.p(), headers=world.h(world.owner), json={"config": config})
    assert reply.status_code == 200
    assert reply.json()["provider"]["config"] == {
        "tekton_enabled": True,
        "runtime_auth": config["runtime_auth"],
    }
    assert world.sim.provider(world.provider)["config"] == reply.json()["provider"]["config"]


@pytest.mark.parametrize(
    "body",
    [
        {"target_namespace": "Not_A_Label"},
        {"target_namespace": "x" * 64},
        {"config": {"tekton_enabled": True}},
    ],
)
def test_put_validation_failures_are_hidden_500s(world: World, body: dict[str, object]) -> None:
    """A bad target_namespace or unbuildable auth config is a bare 500 and changes nothing."""
    before = world.sim.provider(world.provider)
    assert_text(world.client.put(world.p(), headers=world.h(world.owner), json=body), 500, "Internal server error")
    assert world.sim.provider(world.provider) == before


def test_put_normalises_modes_and_checks_the_trimmed_target_namespace(world: World) -> None:
    """UpdateProvider normalises bootstrap_mode and credential_scope, validates the target namespace trimmed (and
    stores it as sent), and drops the legacy namespace key only from a config the request sends."""
    world.sim.state.providers[world.provider].config["namespace"] = "legacy"
    body = {"target_namespace": " if-tekton ", "bootstrap_mode": " self_managed ", "credential_scope": "root"}
    reply = world.client.put(world.p(), headers=world.h(world.owner), json=body)
    assert reply.status_code == 200
    provider = reply.json()["provider"]
    assert (provider["target_namespace"], provider["bootstrap_mode"], provider["credential_scope"]) == (
        " if-tekton ",
        "self_managed",
        "unknown",
    )
    assert provider["config"]["namespace"] == "legacy"
    reply = world.client.put(world.p(), headers=world.h(world.owner), json={"bootstrap_mode": "anything"})
    assert reply.json()["provider"]["bootstrap_mode"] == "image_factory_managed"


def test_put_invalid_status_and_body(world: World) -> None:
    """An unknown status is 400 `Invalid provider status`; malformed JSON is 400 `Invalid request body`."""
    assert_text(
        world.client.put(world.p(), headers=world.h(world.owner), json={"status": "paused"}),
        400,
        "Invalid provider status",
    )
    assert_text(world.client.put(world.p(), headers=world.h(world.owner), content=b"{"), 400, "Invalid request body")


def test_patch_status_flips_status_but_not_schedulability(world: World) -> None:
    """PATCH status enabled=false sets offline but leaves is_schedulable; an empty body is 400."""
    reply = world.client.patch(world.p("/status"), headers=world.h(world.owner), json={"enabled": False})
    assert reply.status_code == 200
    provider = reply.json()["provider"]
    assert (provider["status"], provider["is_schedulable"]) == ("offline", True)
    on = world.client.patch(world.p("/status"), headers=world.h(world.owner), json={})
    assert on.json()["provider"]["status"] == "offline"  # a missing field counts as false
    assert_text(world.client.patch(world.p("/status"), headers=world.h(world.owner)), 400, "Invalid request body")


# -- permissions and availability ---------------------------------------------------------------------


def test_grant_list_and_revoke(world: World) -> None:
    """Grants are idempotent 204s, listed by GET, revoked with 204, and a second revoke is a 500."""
    url, headers = world.p("/permissions"), world.h(world.admin, world.tenant)
    body = {"tenant_id": world.other}
    for _ in range(2):
        reply = world.client.post(url, headers=headers, json=body)
        assert (reply.status_code, reply.content) == (204, b"")
    listed = world.client.get(url, headers=headers).json()["permissions"]
    assert [(g["tenant_id"], g["permission"]) for g in listed] == [(world.other, "infrastructure:select")]
    assert world.client.request("DELETE", url, headers=headers, json=body).status_code == 204
    assert world.sim.grants(world.provider) == []
    assert_text(world.client.request("DELETE", url, headers=headers, json=body), 500, "Failed to revoke permission")


def test_permission_body_validation(world: World) -> None:
    """Bad permission, bad tenant and a non-admin naming another tenant get the documented errors."""
    url = world.p("/permissions")
    reply = world.client.post(url, headers=world.h(world.owner), json={"tenant_id": world.other, "permission": "x"})
    assert_text(reply, 400, "Invalid permission")
    assert_text(
        world.client.post(url, headers=world.h(world.owner), json={"tenant_id": "acme"}),
        400,
        "Invalid tenant ID",
    )
    reply = world.client.post(url, headers=world.h(world.owner), json={"tenant_id": world.other})
    assert_text(reply, 403, "Access denied to this tenant")
    # uuid.Parse takes the nil UUID: a non-admin gets the tenant check, an admin's grant is stored
    assert_text(
        world.client.post(url, headers=world.h(world.owner), json={"tenant_id": NIL}),
        403,
        "Access denied to this tenant",
    )
    admin = world.h(world.admin, world.tenant)
    assert world.client.post(url, headers=admin, json={"tenant_id": NIL}).status_code == 204
    assert [g["tenant_id"] for g in world.sim.grants(world.provider)] == [NIL]


def test_available_providers_follow_selection_rules(world: World) -> None:
    """Another tenant sees the provider only once granted (or global), and never while offline."""
    url = "/api/v1/infrastructure/providers/available"
    headers = world.h(world.stranger, world.other)

    def visible() -> list[str]:
        return [p["id"] for p in world.client.get(url, headers=headers).json()["providers"]]

    assert visible() == []
    world.sim.add_grant(world.provider, world.other)
    assert visible() == [world.provider]
    world.client.patch(world.p("/status"), headers=world.h(world.owner), json={"enabled": False})
    assert visible() == []
    glob = world.sim.add_provider(world.tenant, "shared", is_global=True)
    assert visible() == [glob]


# -- readiness ----------------------------------------------------------------------------------------


def test_readiness_on_an_empty_namespace_lists_exact_messages_and_persists(world: World) -> None:
    """Missing tasks and secret give the exact messages; the provider goes offline and unschedulable."""
    reply = world.client.get(world.p("/readiness"), headers=world.h(world.owner))
    assert reply.status_code == 200
    body = reply.json()
    assert body["status"] == "not_ready"
    assert body["tenant_namespace"] == "if-tekton"
    assert body["missing_prereqs"] == [
        *(f"missing tekton task: {t} in namespace if-tekton" for t in REQUIRED_TASKS),
        "missing required secret docker-config in namespace if-tekton",
    ]
    names = [c["name"] for c in body["checks"]]
    assert names[:8] == [
        "provider_config.tekton_enabled",
        "provider_kubeconfig",
        "kubernetes_client",
        "kubernetes_api",
        "kubernetes_api_latency",
        "tekton_client",
        "tekton_api",
        "tekton_api_latency",
    ]
    assert {"name": "cluster_capacity", "ok": True, "message": "ready nodes: 1/1"} in body["checks"]
    provider = world.sim.provider(world.provider)
    assert provider["status"] == "offline"
    assert provider["is_schedulable"] is False
    assert provider["blocked_by"] == ["provider_not_ready", "provider_status_offline"]
    assert provider["health_status"] == "warning"
    assert provider["readiness_missing_prereqs"] == body["missing_prereqs"]
    status = world.client.get(world.p("/tekton/status"), headers=world.h(world.owner)).json()
    assert status["readiness_status"] == "not_ready"
    assert status["readiness_missing_prereqs"] == body["missing_prereqs"]


def test_readiness_turns_ready_and_brings_the_provider_back_online(world: World) -> None:
    """With tasks and docker-config present the check is ready and the provider is online again."""
    world.client.patch(world.p("/status"), headers=world.h(world.owner), json={"enabled": False})
    install_objects(world.cluster, "if-tekton")
    world.cluster.put(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "docker-config", "namespace": "if-tekton"},
        }
    )
    body = world.client.get(world.p("/readiness"), headers=world.h(world.owner)).json()
    assert (body["status"], body["missing_prereqs"]) == ("ready", [])
    provider = world.sim.provider(world.provider)
    assert (provider["status"], provider["is_schedulable"], provider["health_status"]) == (
        "online",
        True,
        "healthy",
    )
    assert provider.get("blocked_by") is None  # empty list is omitted


def test_ready_result_keeps_maintenance(world: World) -> None:
    """A ready result leaves `maintenance` alone and reports it as the blocker."""
    install_objects(world.cluster, "if-tekton")
    world.cluster.put(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "docker-config", "namespace": "if-tekton"},
        }
    )
    world.client.put(world.p(), headers=world.h(world.owner), json={"status": "maintenance"})
    world.client.get(world.p("/readiness"), headers=world.h(world.owner))
    provider = world.sim.provider(world.provider)
    assert (provider["status"], provider["is_schedulable"]) == ("maintenance", False)
    assert provider["blocked_by"] == ["provider_status_maintenance"]


def test_unreachable_cluster_returns_early_and_marks_unhealthy(world: World) -> None:
    """An unreachable API stops the checks after tekton API version detection; health becomes unhealthy."""
    world.sim.set_cluster_reachable(world.provider, False)
    body = world.client.get(world.p("/readiness"), headers=world.h(world.owner)).json()
    refused = "dial tcp 10.0.0.1:6443: connect: connection refused"
    assert body["missing_prereqs"] == [
        "kubernetes API unreachable",
        "failed to detect tekton api version: no supported Tekton API detected (need tekton.dev/v1 or v1beta1). "
        f"v1 probe error={refused}; v1beta1 probe error={refused}",
    ]
    assert body["checks"][-1]["name"] == "tekton_api_version"
    assert world.sim.provider(world.provider)["health_status"] == "unhealthy"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "provider config missing tekton_enabled=true"),
        ("true", "provider config missing tekton_enabled=true"),
        (False, "provider config has tekton_enabled=false"),
    ],
)
def test_tekton_enabled_must_be_json_true(world: World, value: object, message: str) -> None:
    """tekton_enabled absent or not a JSON bool, or false, is the first missing prerequisite."""
    config = ImageFactorySimulator.default_provider_config()
    if value is None:
        del config["tekton_enabled"]
    else:
        config["tekton_enabled"] = value
    pid = world.sim.add_provider(world.tenant, "p2", config=config)
    body = world.client.get(world.p("/readiness", pid), headers=world.h(world.owner)).json()
    assert body["missing_prereqs"][0] == message


def test_a_cluster_without_tekton_reads_as_v1_with_every_task_missing() -> None:
    """A NotFound from the Tekton probe counts as v1 (DetectAPIVersion), so readiness lists the tasks as missing."""
    clock = FakeClock()
    cluster = ClusterState([t for t in CATALOG if t.group != "tekton.dev"], clock=clock)
    sim = ImageFactorySimulator(cluster, clock=clock)
    tenant = sim.add_tenant("acme")
    sim.add_user("owner@acme.test", "pw", tenant_id=tenant)
    provider = sim.add_provider(tenant, "bare", target_namespace="if-tekton")
    with sim, httpx.Client(base_url=sim.url, timeout=5) as client:
        headers = {"Authorization": f"Bearer {sim.issue_token('owner@acme.test')}", "X-Tenant-ID": tenant}
        body = client.get(f"/api/v1/admin/infrastructure/providers/{provider}/readiness", headers=headers).json()
    checks = {c["name"]: c["ok"] for c in body["checks"]}
    assert "tekton_api_version" not in checks and checks["tekton_api"] is True
    assert [m for m in body["missing_prereqs"] if m.startswith("missing tekton task")] == [
        f"missing tekton task: {t} in namespace if-tekton" for t in REQUIRED_TASKS
    ]
    sim.run_readiness_watch_tick()  # the post-operation check reads the same way and saves its result
    assert (
        sim.provider(provider)["readiness_missing_prereqs"][0]
        == "missing tekton task: git-clone in namespace if-tekton"
    )


@pytest.mark.parametrize(
    ("runtime_auth", "ok"),
    [
        ({"auth_method": "token", "endpoint": "https://k8s:6443", "token": "t"}, True),
        ({"auth_method": "token", "apiServer": "https://k8s:6443", "service_account_token": "t"}, True),
        ({"auth_method": "oauth", "cluster_endpoint": "https://k8s:6443", "oauth_token": "t"}, True),
        ({"auth_method": "client-cert", "endpoint": "https://k8s:6443", "client_cert": "c", "client_key": "k"}, True),
        ({"endpoint": "https://k8s:6443", "token": "t"}, False),  # no auth_method
        ({"auth_method": "token", "server": "https://k8s:6443", "token": "t"}, False),  # "server" is not read
        ({"auth_method": "token", "endpoint": "https://k8s:6443"}, False),  # no credentials
        ({"auth_method": "token", "endpoint": 6443, "token": "t"}, False),  # only strings count
        ({"auth_method": "client-cert", "endpoint": "https://k8s:6443", "client_cert": "c"}, False),
        ({"auth_method": "kubeconfig"}, False),
        ({"auth_method": "kubeconfig", "kubeconfig": "current-context: x\n"}, False),
        ({"auth_method": "iam"}, False),  # no in-cluster config here
        ({"auth_method": "password", "endpoint": "https://k8s:6443", "token": "t"}, False),
        ("token", False),
    ],
)
def test_runtime_auth_must_be_what_the_connector_builds(world: World, runtime_auth: object, ok: bool) -> None:
    """Readiness accepts a runtime_auth only as BuildRESTConfigFromProviderConfig does (kubeconfig.go)."""
    config = {"tekton_enabled": True, "runtime_auth": runtime_auth}
    pid = world.sim.add_provider(world.tenant, "p2", config=config)
    body = world.client.get(world.p("/readiness", pid), headers=world.h(world.owner)).json()
    assert {c["name"]: c["ok"] for c in body["checks"]}["provider_kubeconfig"] is ok


def test_kubeconfig_content_is_read_like_client_go(world: World) -> None:
    """A kubeconfig whose current context names a cluster with a server builds a client; config errors are 500."""
    kubeconfig = (
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
        "clusters: [{name: k, cluster: {server: 'https://k8s:6443'}}]\nusers: [{name: u, user: {token: t}}]\n"
    )
    config = {"tekton_enabled": True, "runtime_auth": {"auth_method": "kubeconfig", "kubeconfig": kubeconfig}}
    pid = world.sim.add_provider(world.tenant, "p2", config=config, target_namespace="if-tekton")
    body = world.client.get(world.p("/readiness", pid), headers=world.h(world.owner)).json()
    assert {c["name"]: c["ok"] for c in body["checks"]}["provider_kubeconfig"] is True
    broken = {"tekton_enabled": True, "runtime_auth": {"auth_method": "token", "endpoint": "https://k8s:6443"}}
    reply = world.client.put(world.p(provider=pid), headers=world.h(world.owner), json={"config": broken})
    assert_text(reply, 500, "Internal server error")


def test_invalid_runtime_auth_responds_immediately(world: World) -> None:
    """An unbuildable runtime_auth stops after `provider_kubeconfig` with an empty tenant_namespace."""
    pid = world.sim.add_provider(world.tenant, "p2", config={"tekton_enabled": True})
    body = world.client.get(world.p("/readiness", pid), headers=world.h(world.owner)).json()
    assert body["tenant_namespace"] == ""
    assert body["missing_prereqs"] == ["invalid provider kubeconfig/config"]
    assert world.sim.provider(pid)["health_status"] == "unhealthy"


def test_pipelines_are_checked_only_in_pipeline_ref_mode_with_the_raw_profile(world: World) -> None:
    """Pipeline checks appear only with tekton_use_pipeline_ref and use the raw config profile string."""
    install_objects(world.cluster, "if-tekton")
    config = ImageFactorySimulator.default_provider_config(tekton_use_pipeline_ref=True, tekton_profile_version="V1")
    pid = world.sim.add_provider(world.tenant, "p2", config=config, target_namespace="if-tekton")
    body = world.client.get(world.p("/readiness", pid), headers=world.h(world.owner)).json()
    assert [m for m in body["missing_prereqs"] if "pipeline" in m] == [
        f"missing tekton pipeline: image-factory-build-V1-{m} in namespace if-tekton"
        for m in ("docker", "buildx", "kaniko", "packer")
    ]
    plain = world.client.get(world.p("/readiness"), headers=world.h(world.owner)).json()
    assert not any(c["name"].startswith("pipeline.") for c in plain["checks"])


def test_probes_create_and_delete_objects(world: World) -> None:
    """PVC and RBAC probes create and delete objects; a missing namespace fails them."""
    body = world.client.get(
        world.p("/readiness"), headers=world.h(world.owner), params={"probe_pvc": "true", "probe_rbac": "1"}
    ).json()
    assert body["missing_prereqs"][-2:] == [
        'PVC provisioning probe failed: namespaces "if-tekton" not found',
        'namespace RBAC probe failed: namespaces "if-tekton" not found',
    ]
    world.cluster.ensure_namespace("if-tekton")
    body = world.client.get(
        world.p("/readiness"),
        headers=world.h(world.owner),
        params={"probe_pvc": "true", "probe_rbac": "true"},
    ).json()
    checks = {c["name"]: c["ok"] for c in body["checks"]}
    assert checks["storage.pvc_probe"] and checks["namespace_rbac_probe"]
    kinds = [(kind, ns) for kind, ns, name in world.sim.probes]
    assert kinds == [("PersistentVolumeClaim", "if-tekton"), ("ConfigMap", "if-tekton")]
    pvc = world.cluster.type_for("v1", "PersistentVolumeClaim")
    cm = world.cluster.type_for("v1", "ConfigMap")
    assert pvc is not None and cm is not None
    assert world.cluster.list(pvc, "if-tekton") == [] and world.cluster.list(cm, "if-tekton") == []


def test_no_ready_nodes_is_a_capacity_failure(world: World) -> None:
    """A cluster whose nodes are all NotReady reports `no ready nodes (<total> total)`."""
    world.cluster.put(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "node-1"},
            "status": {"conditions": [{"type": "Ready", "status": "False"}]},
        }
    )
    body = world.client.get(world.p("/readiness"), headers=world.h(world.owner)).json()
    assert "no ready nodes (1 total)" in body["missing_prereqs"]


def test_watcher_tick_overwrites_status_with_the_post_op_check(world: World) -> None:
    """The watcher's post-operation check ignores docker-config, so it flips an offline provider back online;
    when the cluster cannot be reached it saves nothing (the check returns an error before persisting)."""
    world.client.patch(world.p("/status"), headers=world.h(world.owner), json={"enabled": False})
    install_objects(world.cluster, "if-tekton")
    world.sim.run_readiness_watch_tick()
    provider = world.sim.provider(world.provider)
    assert (provider["status"], provider["readiness_status"], provider["is_schedulable"]) == (
        "online",
        "ready",
        True,
    )
    world.sim.set_cluster_reachable(world.provider, False)
    world.clock.sleep(60)
    world.sim.run_readiness_watch_tick()
    assert world.sim.provider(world.provider) == provider


def test_watcher_requires_the_pipelines_and_takes_the_provider_offline(world: World) -> None:
    """Unlike GET readiness outside pipelineRef mode, the watcher's check requires the four pipelines."""
    install_objects(world.cluster, "if-tekton")
    world.cluster.put(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "docker-config", "namespace": "if-tekton"}}
    )
    pipeline = world.cluster.type_for("tekton.dev/v1", "Pipeline")
    assert pipeline is not None
    world.cluster.delete(pipeline, "if-tekton", "image-factory-build-v1-kaniko")
    assert world.client.get(world.p("/readiness"), headers=world.h(world.owner)).json()["status"] == "ready"
    world.sim.run_readiness_watch_tick()
    provider = world.sim.provider(world.provider)
    assert (provider["status"], provider["is_schedulable"]) == ("offline", False)
    assert provider["readiness_missing_prereqs"] == [
        "missing tekton pipeline: image-factory-build-v1-kaniko in namespace if-tekton"
    ]


def test_watcher_loop_runs_at_start_and_then_in_the_background() -> None:
    """With readiness_watcher_interval set, the watcher runs once at start and then on the clock, unasked."""
    clock = FakeClock()
    sim = ImageFactorySimulator(ClusterState(clock=clock), readiness_watcher_interval=30, clock=clock)
    tenant = sim.add_tenant("acme")
    provider = sim.add_provider(tenant, "k8s", target_namespace="if-tekton")
    with sim:
        first = sim.provider(provider)
        # the namespace probe is a List of Secrets, which an apiserver answers (empty) for a missing namespace
        assert first["readiness_missing_prereqs"][0] == "missing tekton task: git-clone in namespace if-tekton"
        assert len(first["readiness_missing_prereqs"]) == 12
        assert first["readiness_last_checked"] == "2026-03-28T00:00:00Z"
        clock.sleep(29)
        assert sim.provider(provider)["readiness_last_checked"] == "2026-03-28T00:00:00Z"
        clock.sleep(1)
        assert sim.provider(provider)["readiness_last_checked"] == "2026-03-28T00:00:30Z"


@pytest.mark.parametrize(("value", "status"), [("1", 200), ("YES", 200), (" no ", 200), ("0", 200), ("maybe", 400)])
def test_include_prepare_summary_spellings(world: World, value: str, status: int) -> None:
    """The list route takes true/1/yes and false/0/no in any case, trimmed; anything else is a 400."""
    reply = world.client.get(
        "/api/v1/admin/infrastructure/providers",
        headers=world.h(world.owner),
        params={"include_prepare_summary": value},
    )
    assert reply.status_code == status
    if status == 400:
        assert_text(reply, 400, "Invalid include_prepare_summary query parameter")


def test_available_providers_are_capped_at_the_20_newest_online_ones(world: World) -> None:
    """GetAvailableProviders reads one default page of 20 online providers, so an older selectable one is missing."""
    from datetime import timedelta

    start = world.clock.now()
    oldest = world.sim.add_provider(world.tenant, "oldest", created_at=start - timedelta(days=30))
    newer = [
        world.sim.add_provider(world.other, f"n{i}", is_global=True, created_at=start + timedelta(seconds=i + 1))
        for i in range(20)
    ]
    listed = world.client.get("/api/v1/infrastructure/providers/available", headers=world.h(world.owner)).json()
    ids = [p["id"] for p in listed["providers"]]
    assert oldest not in ids and world.provider not in ids
    assert sorted(ids) == sorted(newer)
