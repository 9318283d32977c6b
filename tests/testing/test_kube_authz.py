"""The Kubernetes simulator's authorization, access reviews and Lease rules, through lightkube and raw httpx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from lightkube import Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.models.authorization_v1 import ResourceAttributes, SelfSubjectAccessReviewSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.authorization_v1 import SelfSubjectAccessReview
from lightkube.resources.core_v1 import ConfigMap

from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.kube import KubernetesSimulator

LEASES = "/apis/coordination.k8s.io/v1/namespaces/ci/leases"
REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
USER = "system:serviceaccount:gitrollback:gitrollback"


@pytest.fixture(name="kube")
def _kube() -> Iterator[KubernetesSimulator]:
    with KubernetesSimulator(ClusterState(namespaces=["ci"])) as sim:
        yield sim


@pytest.fixture(name="http")
def _http(kube: KubernetesSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=kube.url, headers={"Authorization": "Bearer sim-token"}) as http:
        yield http


def _review(client: Client, verb: str, resource: str, group: str = "", namespace: str | None = "ci") -> Any:
    attrs = ResourceAttributes(verb=verb, resource=resource, group=group, namespace=namespace)
    return client.create(SelfSubjectAccessReview(spec=SelfSubjectAccessReviewSpec(resourceAttributes=attrs)))


def _lease(name: str = "lock", renew: str = "2026-01-01T00:00:00.000000Z") -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 30, "renewTime": renew}}


def test_access_review_answers_allowed_and_denied_through_lightkube(kube: KubernetesSimulator) -> None:
    """A review is allowed until a deny rule matches it; the answer is 201 with status.allowed, never stored."""
    kube.deny("update", "leases", group="coordination.k8s.io", namespace="ci")
    with Client(KubeConfig.from_dict(kube.kubeconfig())) as client:
        allowed = _review(client, "get", "leases", "coordination.k8s.io")
        denied = _review(client, "update", "leases", "coordination.k8s.io")
        elsewhere = _review(client, "update", "leases", "coordination.k8s.io", namespace="other")
    assert allowed.status.allowed is True
    assert denied.status.allowed is False and denied.status.reason is None
    assert elsewhere.status.allowed is True


def test_denied_requests_get_the_api_servers_403(kube: KubernetesSimulator, http: httpx.Client) -> None:
    """A refused get, list and cluster-scoped list carry forbiddenMessage's exact text and a Forbidden Status."""
    kube.deny("get", "configmaps", namespace="ci")
    kube.deny("list", "configmaps")
    kube.deny("list", "namespaces")
    item = http.get("/api/v1/namespaces/ci/configmaps/settings")
    listing = http.get("/api/v1/namespaces/ci/configmaps")
    cluster = http.get("/api/v1/namespaces")
    assert item.status_code == listing.status_code == cluster.status_code == 403
    assert item.json()["message"] == (
        f'configmaps "settings" is forbidden: User "{USER}" cannot get resource "configmaps" in API group "" '
        'in the namespace "ci"'
    )
    assert item.json()["reason"] == "Forbidden" and item.json()["details"] == {"name": "settings", "kind": "configmaps"}
    assert listing.json()["message"] == (
        f'configmaps is forbidden: User "{USER}" cannot list resource "configmaps" in API group "" '
        'in the namespace "ci"'
    )
    assert cluster.json()["message"].endswith('cannot list resource "namespaces" in API group "" at the cluster scope')


def test_a_namespace_object_is_asked_about_in_itself(kube: KubernetesSimulator, http: httpx.Client) -> None:
    """GET /api/v1/namespaces/ci is a request in namespace "ci" (requestinfo.go), so a rule for "ci" decides it."""
    assert http.get("/api/v1/namespaces/ci").status_code == 200
    kube.deny("get", "namespaces", namespace="other")
    assert http.get("/api/v1/namespaces/ci").status_code == 200
    kube.deny("get", "namespaces", namespace="ci")
    refused = http.get("/api/v1/namespaces/ci")
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        f'namespaces "ci" is forbidden: User "{USER}" cannot get resource "namespaces" in API group "" '
        'in the namespace "ci"'
    )


def test_an_apply_that_creates_is_also_authorized_as_create(kube: KubernetesSimulator, http: httpx.Client) -> None:
    """Without create, a server-side apply of a new object is refused with create's 403 (dry run too, nothing
    stored); an apply to an existing object needs only patch (apiserver handlers/patch.go)."""
    url = "/api/v1/namespaces/ci/configmaps/settings"
    body = '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}}'
    headers = {"Content-Type": "application/apply-patch+yaml"}
    kube.deny("create", "configmaps", namespace="ci")
    for dry_run in ("&dryRun=All", ""):
        refused = http.patch(f"{url}?fieldManager=me{dry_run}", content=body, headers=headers)
        assert refused.status_code == 403
        assert refused.json()["message"] == (
            f'configmaps "settings" is forbidden: User "{USER}" cannot create resource "configmaps" in API group "" '
            'in the namespace "ci"'
        )
    assert http.get(url).status_code == 404
    kube.authorizer.clear()
    assert http.patch(f"{url}?fieldManager=me", content=body, headers=headers).status_code == 201
    kube.deny("create", "configmaps", namespace="ci")
    updated = http.patch(f"{url}?fieldManager=me", content=body.replace('"1"', '"2"'), headers=headers)
    assert updated.status_code == 200 and updated.json()["data"] == {"a": "2"}


def test_denial_surfaces_as_lightkube_api_error(kube: KubernetesSimulator) -> None:
    """lightkube sees the 403 as an ApiError carrying the Status message."""
    kube.deny("create", "configmaps", namespace="ci")
    with Client(KubeConfig.from_dict(kube.kubeconfig())) as client, pytest.raises(ApiError) as caught:
        client.create(ConfigMap(metadata=ObjectMeta(name="x", namespace="ci"), data={}))
    assert caught.value.status.code == 403 and "cannot create resource" in str(caught.value.status.message)


def test_review_needs_exactly_one_attribute_set_and_a_valid_token(
    kube: KubernetesSimulator, http: httpx.Client
) -> None:
    """An empty spec is a 422 Invalid; a wrong token is 401 before any review; GET on reviews is not allowed."""
    empty = http.post(REVIEWS, json={"spec": {}})
    assert empty.status_code == 422 and "exactly one of nonResourceAttributes or resourceAttributes" in empty.text
    wrong = httpx.post(
        kube.url + REVIEWS,
        json={"spec": {"resourceAttributes": {"verb": "get"}}},
        headers={"Authorization": "Bearer wrong"},
    )
    assert wrong.status_code == 401
    assert http.get(REVIEWS).status_code == 405


def test_discovery_lists_reviews_as_create_only(http: httpx.Client) -> None:
    """The authorization group serves selfsubjectaccessreviews with the create verb alone, and no status."""
    resources = http.get("/apis/authorization.k8s.io/v1").json()["resources"]
    assert resources == [
        {
            "name": "selfsubjectaccessreviews",
            "singularName": "selfsubjectaccessreview",
            "namespaced": False,
            "kind": "SelfSubjectAccessReview",
            "verbs": ["create"],
        }
    ]


def test_lease_updates_are_conditional_and_stale_ones_conflict(http: httpx.Client) -> None:
    """A Lease PUT without resourceVersion is refused (422) and one with a stale resourceVersion is a 409."""
    created = http.post(LEASES, json=_lease())
    assert created.status_code == 201
    body = created.json()
    unconditional = {**body, "metadata": {k: v for k, v in body["metadata"].items() if k != "resourceVersion"}}
    refused = http.put(f"{LEASES}/lock", json=unconditional)
    assert refused.status_code == 422
    assert refused.json()["message"] == (
        'leases.coordination.k8s.io "lock" is invalid: '
        "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
    )
    assert refused.json()["details"]["kind"] == "leases"
    first = http.put(f"{LEASES}/lock", json={**body, "spec": {**body["spec"], "holderIdentity": "b"}})
    assert first.status_code == 200
    stale = http.put(f"{LEASES}/lock", json={**body, "spec": {**body["spec"], "holderIdentity": "c"}})
    assert stale.status_code == 409 and "the object has been modified" in stale.json()["message"]
    assert http.post(LEASES, json=_lease()).status_code == 409


def test_lease_micro_times_need_their_six_digits(http: httpx.Client) -> None:
    """renewTime without the fractional seconds fails decoding as metav1.MicroTime does (400)."""
    refused = http.post(LEASES, json=_lease(renew="2026-01-01T00:00:00Z"))
    assert refused.status_code == 400
    assert refused.json()["message"] == (
        'Lease in version "v1" cannot be handled as a Lease: parsing time "2026-01-01T00:00:00Z" as '
        '"2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as ".000000"'
    )
    assert http.post(LEASES, json=_lease(renew="2026-01-01T00:00:00.000000+00:00")).status_code == 201
