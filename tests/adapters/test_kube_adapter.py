"""LightkubeCluster against the Kubernetes simulator: apply, reads, and error translation."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from gitrollback.adapters.kube import LightkubeCluster, translate_errors
from gitrollback.assets import expand_assets
from gitrollback.errors import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    TransportError,
    UnsupportedOperationError,
)
from gitrollback.models import Manifest
from gitrollback.testing.cluster_state import ClusterState
from gitrollback.testing.kube import KubernetesSimulator

NS = "image-factory-6f1c2a9e"
MANAGER = "image-factory-tekton-installer"


@pytest.fixture(name="kube")
def _kube() -> Iterator[KubernetesSimulator]:
    with KubernetesSimulator(ClusterState(), token="t0k3n") as sim:
        yield sim


@pytest.fixture(name="cluster")
def _cluster(kube: KubernetesSimulator) -> Iterator[LightkubeCluster]:
    c = LightkubeCluster.from_kubeconfig(kube.kubeconfig(namespace=NS))
    yield c
    c.close()


def test_applies_the_real_tree_into_a_new_namespace(
    kube: KubernetesSimulator, cluster: LightkubeCluster, fixture_tree
) -> None:
    """All 26 objects apply (created), land in the namespace, and are owned by the installer's manager."""
    assert cluster.ensure_namespace(NS, field_manager=MANAGER) is True
    assert cluster.ensure_namespace(NS, field_manager=MANAGER) is False
    results = [cluster.apply(m, namespace=NS, field_manager=MANAGER, force=True) for m in expand_assets(fixture_tree)]
    assert len(results) == 26 and all(r.created for r in results)
    assert {r.namespace for r in results} == {NS}
    again = cluster.apply(expand_assets(fixture_tree)[0], namespace=NS, field_manager=MANAGER, force=True)
    assert again.created is False
    rt = kube.state.type_for("tekton.dev/v1", "Task")
    assert rt is not None
    stored = kube.state.get(rt, NS, "git-clone")
    assert stored is not None and [m["manager"] for m in stored["metadata"]["managedFields"]] == [MANAGER]
    assert "packer" in cluster.list_names("tekton.dev/v1", "Task", namespace=NS)
    assert cluster.exists("tekton.dev/v1beta1", "Pipeline", "image-factory-build-v1-kaniko", namespace=NS)
    assert not cluster.exists("tekton.dev/v1", "Pipeline", "nope", namespace=NS)
    assert cluster.exists("apps/v1", "Deployment", "image-factory-registry", namespace=NS)


def test_missing_namespace_is_a_not_found(cluster: LightkubeCluster, fixture_tree) -> None:
    """Applying into a namespace that does not exist raises NotFoundError naming it."""
    with pytest.raises(NotFoundError, match='namespaces "ghost" not found') as info:
        cluster.apply(expand_assets(fixture_tree)[0], namespace="ghost", field_manager=MANAGER, force=True)
    assert info.value.status == 404 and info.value.adapter == "kubernetes"


def test_wrong_token_is_an_authentication_error(kube: KubernetesSimulator) -> None:
    """A 401 from the API server becomes AuthenticationError and the token is not in the message."""
    config = kube.kubeconfig()
    cluster = LightkubeCluster.from_kubeconfig(config, token="wrong-secret")
    with pytest.raises(AuthenticationError) as info:
        cluster.list_names("tekton.dev/v1", "Task", namespace=NS)
    cluster.close()
    assert "wrong-secret" not in str(info.value) and "t0k3n" not in str(info.value)


def test_unreachable_server_is_a_transport_error(kube: KubernetesSimulator) -> None:
    """A closed port becomes TransportError with a hint, not an httpx exception."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = kube.kubeconfig()
    config["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{port}"
    cluster = LightkubeCluster.from_kubeconfig(config)
    with pytest.raises(TransportError, match="unreachable") as info:
        cluster.exists("v1", "Namespace", "default", namespace=None)
    cluster.close()
    assert info.value.hint


def test_unknown_kind_is_refused_like_the_installer(cluster: LightkubeCluster) -> None:
    """A kind gitrollback cannot map is refused with the installer's wording."""
    m = Manifest(
        "example.com/v1", "Widget", "w", {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    )
    with pytest.raises(UnsupportedOperationError, match="Failed to map manifest resource Widget"):
        cluster.apply(m, namespace=NS, field_manager=MANAGER, force=True)


def test_bad_kubeconfig_is_a_config_error() -> None:
    """A kubeconfig without the named context is a ConfigError naming the context."""
    with pytest.raises(ConfigError, match="'missing'"):
        LightkubeCluster.from_kubeconfig(
            {"apiVersion": "v1", "clusters": [], "contexts": [], "users": []}, context="missing"
        )


def _task(name: str, **spec: object) -> Manifest:
    body = {"apiVersion": "tekton.dev/v1", "kind": "Task", "metadata": {"name": name}, "spec": dict(spec)}
    return Manifest("tekton.dev/v1", "Task", name, body)


def test_discovery_says_which_kinds_are_namespaced(cluster: LightkubeCluster) -> None:
    """resource_scopes reads the API server's discovery: Tekton and RBAC kinds, cluster scope, unknown groups."""
    assert cluster.resource_scopes("tekton.dev/v1")["Task"] is True
    rbac = cluster.resource_scopes("rbac.authorization.k8s.io/v1")
    assert rbac["RoleBinding"] is True and rbac["ClusterRoleBinding"] is False
    assert cluster.resource_scopes("v1")["Namespace"] is False
    assert cluster.resource_scopes("example.com/v1") == {}


def test_one_request_per_apply_and_dry_runs_store_nothing(kube: KubernetesSimulator, cluster: LightkubeCluster) -> None:
    """An apply is one PATCH (201 created, 200 updated); a dry run answers the object and stores nothing."""
    cluster.ensure_namespace(NS, field_manager=MANAGER)
    cluster.resource_scopes("tekton.dev/v1")
    sent = len(kube.requests)
    dry = cluster.apply(_task("t1", a="x"), namespace=NS, field_manager=MANAGER, force=True, dry_run=True)
    assert dry.created is True and dry.object["spec"] == {"a": "x"}
    rt = kube.state.type_for("tekton.dev/v1", "Task")
    assert rt is not None and kube.state.get(rt, NS, "t1") is None
    first = cluster.apply(_task("t1", a="x"), namespace=NS, field_manager=MANAGER, force=True)
    second = cluster.apply(_task("t1", a="y"), namespace=NS, field_manager=MANAGER, force=True)
    assert (first.created, second.created) == (True, False)
    methods = [r.method for r, _ in kube.requests[sent:]]
    assert methods == ["PATCH", "PATCH", "PATCH"]
    assert kube.requests[sent][0].query_value("dryRun") == "All"
    live = cluster.list_objects("tekton.dev/v1", "Task", namespace=NS)
    assert [(o.name, [m.manager for m in o.managers]) for o in live] == [("t1", [MANAGER])]


def test_delete_needs_the_uid_and_resource_version_it_was_given(
    kube: KubernetesSimulator, cluster: LightkubeCluster
) -> None:
    """A delete whose preconditions no longer match is a 409 naming them and keeps the object; one that matches
    deletes it."""
    cluster.ensure_namespace(NS, field_manager=MANAGER)
    cluster.apply(_task("t1", a="x"), namespace=NS, field_manager=MANAGER, force=True)
    (obj,) = cluster.list_objects("tekton.dev/v1", "Task", namespace=NS)
    with pytest.raises(ConflictError, match="Precondition failed: UID in precondition: wrong, UID in object meta"):
        cluster.delete("tekton.dev/v1", "Task", "t1", namespace=NS, uid="wrong", resource_version=obj.resource_version)
    cluster.apply(_task("t1", a="changed"), namespace=NS, field_manager=MANAGER, force=True)
    with pytest.raises(ConflictError, match="Precondition failed: ResourceVersion in precondition"):
        cluster.delete("tekton.dev/v1", "Task", "t1", namespace=NS, uid=obj.uid, resource_version=obj.resource_version)
    assert cluster.exists("tekton.dev/v1", "Task", "t1", namespace=NS)
    (now,) = cluster.list_objects("tekton.dev/v1", "Task", namespace=NS)
    cluster.delete("tekton.dev/v1", "Task", "t1", namespace=NS, uid=now.uid, resource_version=now.resource_version)
    assert not cluster.exists("tekton.dev/v1", "Task", "t1", namespace=NS)


def _self_signed() -> tuple[bytes, bytes]:
    """A certificate (PEM) for 127.0.0.1 that is its own CA, and its key (PEM)."""
    import ipaddress
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gitrollback test API server")])
    valid_from = datetime.now(UTC) - timedelta(days=1)  # validity only needs to cover the test
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_from + timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def test_https_with_the_kubeconfigs_ca_and_refused_without_it(kube: KubernetesSimulator, tmp_path) -> None:
    """Over TLS the adapter trusts the kubeconfig's CA data, and refuses a server its CA did not sign."""
    import base64
    import ssl

    cert, key = _self_signed()
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    listener = kube._server
    assert listener is not None
    listener.socket = server_tls.wrap_socket(listener.socket, server_side=True)
    config = kube.kubeconfig(namespace=NS)
    config["clusters"][0]["cluster"] = {
        "server": f"https://127.0.0.1:{kube.port}",
        "certificate-authority-data": base64.b64encode(cert).decode(),
    }
    cluster = LightkubeCluster.from_kubeconfig(config)
    assert cluster.resource_scopes("tekton.dev/v1")["Task"] is True
    cluster.close()
    other, _ = _self_signed()
    config["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(other).decode()
    stranger = LightkubeCluster.from_kubeconfig(config)
    with pytest.raises(TransportError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        stranger.resource_scopes("v1")
    stranger.close()


def test_one_error_boundary_for_plain_requests_and_lightkube_calls(
    kube: KubernetesSimulator, cluster: LightkubeCluster
) -> None:
    """A 403 met by the adapter's plain REST and by lightkube's typed client (as flux.py calls it) inside
    ``translate_errors`` is the same ``PermissionDeniedError`` with the same words; a dead server is a
    ``TransportError`` both ways."""
    from lightkube import Client, KubeConfig
    from lightkube.resources.core_v1 import ConfigMap

    kube.deny("list", "configmaps", namespace=NS)
    with pytest.raises(PermissionDeniedError) as plain:
        cluster.list_objects("v1", "ConfigMap", namespace=NS)
    client = Client(KubeConfig.from_dict(kube.kubeconfig(namespace=NS)), trust_env=False)
    with pytest.raises(PermissionDeniedError) as typed, translate_errors("list", "ConfigMap"):
        list(client.list(ConfigMap, namespace=NS))
    assert str(plain.value) == str(typed.value) and plain.value.status == typed.value.status == 403
    assert 'cannot list resource "configmaps"' in typed.value.remote_message
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    config = kube.kubeconfig(namespace=NS)
    config["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{port}"
    dead = Client(KubeConfig.from_dict(config), trust_env=False)
    unreachable = pytest.raises(TransportError, match="kubernetes API unreachable during list ConfigMap")
    with unreachable, translate_errors("list", "ConfigMap"):
        list(dead.list(ConfigMap, namespace=NS))
    dead.close()
    client.close()
