"""The Image Factory simulator decodes bodies, ids and query values as the Go server does (encoding/json, uuid)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from gitrollback.testing.clock import FakeClock
from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.imagefactory import ImageFactorySimulator
from gitrollback.testing.repos import fixture_root

FIXTURES = fixture_root()
PROVIDERS = "/api/v1/admin/infrastructure/providers"
IN_PROGRESS = "Another tekton install/upgrade/validate job is already in progress for this provider"


@dataclass
class World:
    sim: ImageFactorySimulator
    client: httpx.Client
    tenant: str
    provider: str
    owner: str
    admin: str

    def h(self, token: str | None = None, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.owner}", "X-Tenant-ID": self.tenant, **extra}

    def p(self, suffix: str = "") -> str:
        return f"{PROVIDERS}/{self.provider}{suffix}"


@pytest.fixture
def world() -> Iterator[World]:
    clock = FakeClock()  # never stepped: the dispatchers stay put and every timestamp is the same
    sim = ImageFactorySimulator(ClusterState(clock=clock), asset_root=FIXTURES, clock=clock)
    tenant = sim.add_tenant("acme")
    other = sim.add_tenant("globex")
    sim.add_user("owner@acme.test", "pw", tenant_id=tenant)
    sim.add_user("root@if.test", "pw", tenant_id=other, role="System Administrator")
    provider = sim.add_provider(tenant, "k8s", target_namespace="if-tekton")
    with sim, httpx.Client(base_url=sim.url, timeout=5) as client:
        yield World(sim, client, tenant, provider, sim.issue_token("owner@acme.test"), sim.issue_token("root@if.test"))


def assert_text(response: httpx.Response, status: int, body: str) -> None:
    assert (response.status_code, response.text) == (status, body + "\n")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("limit", ["1_0", " 5", "5 ", "0x10", "5.0"])
def test_status_limit_is_parsed_like_strconv_atoi(world: World, limit: str) -> None:
    """`limit` values Python's int() takes but Go's Atoi refuses get the plain-text 400."""
    reply = world.client.get(world.p("/tekton/status"), params={"limit": limit}, headers=world.h())
    assert_text(reply, 400, "Invalid limit (must be between 1 and 100)")


def test_status_limit_accepts_a_leading_plus(world: World) -> None:
    """Atoi accepts `+5`, so the status route answers 200 with up to five jobs."""
    ids = [world.sim.seed_job(world.provider) for _ in range(6)]
    reply = world.client.get(world.p("/tekton/status"), params={"limit": "+5"}, headers=world.h())
    assert reply.status_code == 200
    assert [j["id"] for j in reply.json()["recent_jobs"]] == ids[::-1][:5]


def test_over_long_asset_version_is_a_500_even_while_a_job_is_active(world: World) -> None:
    """An asset_version over VARCHAR(128) fails the insert (500) before the active-job lock (409) applies."""
    url = world.p("/tekton/upgrade")
    ok = world.client.post(url, headers=world.h(), json={"asset_version": " " + "V" * 128 + " "})
    assert ok.status_code == 202
    assert ok.json()["job"]["asset_version"] == "v" * 128
    too_long = world.client.post(url, headers=world.h(), json={"asset_version": "v" * 129})
    assert_text(too_long, 500, "Internal server error")
    assert_text(world.client.post(url, headers=world.h(), json={}), 409, IN_PROGRESS)
    assert len(world.sim.jobs(world.provider)) == 1


@pytest.mark.parametrize(
    ("body", "mode"),
    [
        (b"null", "image_factory_installer"),
        (b'{"install_mode":"gitops"} trailing bytes', "gitops"),
        (b'{"Install_Mode":"gitops"}', "gitops"),
        (b'{"install_mode":null}', "image_factory_installer"),
        (b'{"install_mode":"image_factory_installer","INSTALL_MODE":"gitops"}', "gitops"),
    ],
)
def test_install_body_decodes_like_a_go_decoder(world: World, body: bytes, mode: str) -> None:
    """null is the zero struct, trailing data is unread, keys match case-insensitively and the last one wins."""
    reply = world.client.post(world.p("/tekton/install"), headers=world.h(), content=body)
    assert reply.status_code == 202
    assert reply.json()["job"]["install_mode"] == mode


@pytest.mark.parametrize("body", [b"[]", b'"x"', b'{"install_mode":5}', b'{"asset_version":NaN}', b"{"])
def test_install_body_type_errors_are_invalid_request_body(world: World, body: bytes) -> None:
    """A non-object body, a member of the wrong JSON type or malformed JSON is `400 Invalid request body`."""
    reply = world.client.post(world.p("/tekton/install"), headers=world.h(), content=body)
    assert_text(reply, 400, "Invalid request body")
    assert world.sim.jobs(world.provider) == []


def test_retry_null_body_is_an_invalid_job_id_but_empty_is_a_bad_body(world: World) -> None:
    """Retry: `null` decodes to an empty job_id (400 Invalid job_id); an empty body is io.EOF (Invalid request body)."""
    url = world.p("/tekton/retry")
    assert_text(world.client.post(url, headers=world.h(), content=b"null"), 400, "Invalid job_id")
    assert_text(world.client.post(url, headers=world.h(), content=b""), 400, "Invalid request body")
    assert_text(world.client.post(url, headers=world.h(), json={"job_id": 7}), 400, "Invalid request body")


def test_patch_status_null_enabled_counts_as_false(world: World) -> None:
    """`{"enabled": null}` leaves Go's zero value: the provider goes offline (200); a string is a 400."""
    reply = world.client.patch(world.p("/status"), headers=world.h(), content=b'{"enabled":null}')
    assert reply.status_code == 200
    assert reply.json()["provider"]["status"] == "offline"
    bad = world.client.patch(world.p("/status"), headers=world.h(), json={"enabled": "true"})
    assert_text(bad, 400, "Invalid request body")
    assert world.sim.provider(world.provider)["status"] == "offline"


@pytest.mark.parametrize("body", [{"tenant_id": 5}, {"tenant_id": "x", "permission": 5}])
def test_permission_body_type_errors_are_invalid_request_body(world: World, body: dict[str, object]) -> None:
    """Non-string tenant_id or permission fail decoding (Invalid request body), not the field checks."""
    reply = world.client.post(world.p("/permissions"), headers=world.h(), json=body)
    assert_text(reply, 400, "Invalid request body")
    assert world.sim.grants(world.provider) == []


def test_ids_accept_exactly_the_forms_go_uuid_parse_accepts(world: World) -> None:
    """Bare hex, braces and urn:uuid: ids work; Python-only spellings are `Invalid provider ID`."""
    compact = world.provider.replace("-", "")
    for accepted in (compact.upper(), f"urn:uuid:{world.provider}"):
        reply = world.client.get(f"{PROVIDERS}/{accepted}", headers=world.h())
        assert reply.status_code == 200
        assert reply.json()["provider"]["id"] == world.provider
    for refused in (f"{compact[:4]}-{compact[4:]}", f"uuid:{world.provider}", f"{{{world.provider}"):
        assert_text(world.client.get(f"{PROVIDERS}/{refused}", headers=world.h()), 400, "Invalid provider ID")
    braces = world.client.get(world.p(), headers=world.h(**{"X-Tenant-ID": f"{{{world.tenant}}}"}))
    assert braces.status_code == 200
    odd = world.client.get(world.p(), headers=world.h(**{"X-Tenant-ID": world.tenant.replace("-", "")[:30] + "-ab"}))
    assert_text(odd, 400, "Invalid tenant ID format")


def test_bearer_scheme_is_case_sensitive(world: World) -> None:
    """`bearer <token>` is a wrong scheme: 401 Unauthorized (middleware Authenticate)."""
    reply = world.client.get(world.p(), headers={"Authorization": f"bearer {world.owner}", "X-Tenant-ID": world.tenant})
    assert_text(reply, 401, "Unauthorized")


def test_maintenance_mode_blocks_non_admin_writes_only(world: World) -> None:
    """System maintenance: a non-admin POST is 503, reads still work and a system admin may still write."""
    world.sim.set_maintenance_mode(True)
    blocked = world.client.post(world.p("/tekton/validate"), headers=world.h())
    assert_text(blocked, 503, "Service temporarily read-only for maintenance")
    assert world.client.get(world.p("/tekton/status"), headers=world.h()).status_code == 200
    admin = world.client.post(world.p("/tekton/validate"), headers=world.h(world.admin))
    assert admin.status_code == 202
    world.sim.set_maintenance_mode(False)
    assert_text(world.client.post(world.p("/tekton/validate"), headers=world.h()), 409, IN_PROGRESS)
