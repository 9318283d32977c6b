"""Everything gitrollback raises, in one tree.

Adapters translate their third-party library's exceptions into these classes at the boundary and chain the
original as ``__cause__``; no vendor exception escapes an adapter. The CLI maps the tree to exit codes in
one place (``gitrollback.cli``)::

    GitRollbackError                      root of everything gitrollback raises           exit 1
    ├── ConfigError                       bad config file, key, value or missing secret    exit 2
    │   └── PreflightFailedError          a credential or permission the run needs is missing; .problems
    ├── AssetError                        the asset tree at a revision is unusable         exit 1
    ├── AdapterError                      a remote or local tool failed; .adapter, .operation
    │   ├── TransportError                connection refused, timeout, TLS: nothing answered
    │   ├── RemoteHTTPError               the remote answered with an error; .status, .message
    │   │   ├── BadRequestError           400
    │   │   ├── AuthenticationError       401: token missing, wrong or expired
    │   │   ├── PermissionDeniedError     403
    │   │   ├── NotFoundError             404
    │   │   ├── ConflictError             409
    │   │   │   └── JobInProgressError    409: another installer job is pending or running
    │   │   ├── UnprocessableError        422 (Kubernetes validation)
    │   │   └── ServerError               5xx
    │   ├── UnexpectedResponseError       2xx with a body that breaks the contract
    │   ├── GitError                      git refused or failed (bad revision, missing path)
    │   └── UnsupportedOperationError     the adapter cannot do this at all
    ├── TemporaryError                    the step should be retried after .delay seconds
    ├── WaitTimeoutError                  a wait ran out of time; .waited, .last_state
    └── StepError                         a runbook step failed for good; .step
        ├── PreconditionFailedError       refused before changing anything                 exit 3
        ├── ApplyFailedError              applying manifests failed part-way
        └── VerificationFailedError       the rollback ran but verification did not pass

Errors carry attributes, not just a message: ``hint`` is the next action a person should take and the
CLI prints it under the one-line cause, and ``kind`` is a stable name a program can match (each class has a
``default_kind``; a raise site may name the failure more precisely, e.g. ``kind="not_in_history"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gitrollback.models import AccessProblem

__all__ = [
    "AdapterError",
    "ApplyFailedError",
    "AssetError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigError",
    "ConflictError",
    "GitError",
    "GitRollbackError",
    "JobInProgressError",
    "NotFoundError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "PreflightFailedError",
    "RemoteHTTPError",
    "ServerError",
    "StepError",
    "TemporaryError",
    "TransportError",
    "UnexpectedResponseError",
    "UnprocessableError",
    "UnsupportedOperationError",
    "VerificationFailedError",
    "WaitTimeoutError",
    "http_error",
    "http_error_class",
]


class GitRollbackError(Exception):
    """Root of every error gitrollback raises.

    Args:
        message: one line saying what went wrong.
        hint: one line saying what to do next (printed by the CLI under the message).
        kind: a stable, machine-readable name for this failure (``not_in_history``, ``lock_held``...), for
            library users to match and for ``--json``. Defaults to the class's ``default_kind``.
    """

    #: The ``kind`` of an error raised without one; every class in the tree names its own.
    default_kind = "error"

    def __init__(self, message: str, *, hint: str | None = None, kind: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.kind = kind or self.default_kind

    def __str__(self) -> str:
        return self.message


class ConfigError(GitRollbackError):
    """The configuration is unusable: names the file and the key where it can."""

    default_kind = "config"

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        key: str | None = None,
        hint: str | None = None,
        kind: str | None = None,
    ) -> None:
        where = ""
        if path and key:
            where = f"{path}: {key}: "
        elif path:
            where = f"{path}: "
        elif key:
            where = f"{key}: "
        super().__init__(f"{where}{message}", hint=hint, kind=kind)
        self.path = path
        self.key = key
        self.problem = message


class PreflightFailedError(ConfigError):
    """The pre-flight check found credentials or permissions the run needs and lacks, before any change.

    ``problems`` lists every one found (not just the first), each with the service it concerns; the message
    names them all.
    """

    default_kind = "preflight_failed"

    def __init__(self, problems: Sequence[AccessProblem], *, hint: str | None = None) -> None:
        lines = [f"{p.service}: {p.problem}" for p in problems]
        count = f"{len(lines)} problem{'s' if len(lines) != 1 else ''}"
        super().__init__(
            f"pre-flight check failed before any change ({count}): " + "; ".join(lines),
            hint=hint or "; ".join(dict.fromkeys(p.hint for p in problems if p.hint)) or None,
        )
        self.problems = tuple(problems)


class AssetError(GitRollbackError):
    """The Tekton asset tree is unusable: no kustomization, a listed file missing, malformed YAML."""

    default_kind = "asset"

    def __init__(
        self, message: str, *, path: str | None = None, hint: str | None = None, kind: str | None = None
    ) -> None:
        super().__init__(message, hint=hint, kind=kind)
        self.path = path


class AdapterError(GitRollbackError):
    """A remote service or local tool failed while an adapter talked to it."""

    default_kind = "adapter"

    def __init__(
        self, message: str, *, adapter: str, operation: str, hint: str | None = None, kind: str | None = None
    ) -> None:
        super().__init__(message, hint=hint, kind=kind)
        self.adapter = adapter
        self.operation = operation


class TransportError(AdapterError):
    """Nothing usable came back: connection refused, DNS, TLS or a timeout."""

    default_kind = "transport"


class RemoteHTTPError(AdapterError):
    """The remote answered with an HTTP error status.

    ``message`` is the remote's own error text (plain-text body or the JSON ``error``/``message`` field).
    """

    default_kind = "http"

    def __init__(
        self,
        message: str,
        *,
        adapter: str,
        operation: str,
        status: int,
        remote_message: str = "",
        hint: str | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message, adapter=adapter, operation=operation, hint=hint, kind=kind)
        self.status = status
        self.remote_message = remote_message


class BadRequestError(RemoteHTTPError):
    """400: the remote rejected the request as malformed."""

    default_kind = "bad_request"


class AuthenticationError(RemoteHTTPError):
    """401: no credentials, wrong credentials, or an expired token."""

    default_kind = "authentication"


class PermissionDeniedError(RemoteHTTPError):
    """403: the identity is known but may not do this (or may not see this tenant)."""

    default_kind = "permission_denied"


class NotFoundError(RemoteHTTPError):
    """404: the object does not exist (or is not visible)."""

    default_kind = "not_found"


class ConflictError(RemoteHTTPError):
    """409: the remote's state conflicts with the request."""

    default_kind = "conflict"


class JobInProgressError(ConflictError):
    """409 from Image Factory: another install/upgrade/validate job is pending or running."""

    default_kind = "job_in_progress"


class UnprocessableError(RemoteHTTPError):
    """422: the remote validated the object and refused it."""

    default_kind = "unprocessable"


class ServerError(RemoteHTTPError):
    """5xx: the remote failed."""

    default_kind = "server_error"


class UnexpectedResponseError(AdapterError):
    """A success status with a body that does not match the contract."""

    default_kind = "unexpected_response"


class GitError(AdapterError):
    """git refused or failed: unknown revision, missing path, unreadable repository."""

    default_kind = "git"


class UnsupportedOperationError(AdapterError):
    """The adapter cannot do this operation at all."""

    default_kind = "unsupported"


class TemporaryError(GitRollbackError):
    """The operation may succeed if retried after ``delay`` seconds."""

    default_kind = "temporary"

    def __init__(self, message: str, *, delay: float = 1.0, hint: str | None = None, kind: str | None = None) -> None:
        super().__init__(message, hint=hint, kind=kind)
        self.delay = delay


class WaitTimeoutError(GitRollbackError):
    """A wait for a remote state ran out of time."""

    default_kind = "timeout"

    def __init__(
        self,
        message: str,
        *,
        waited: float,
        last_state: str = "",
        hint: str | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, kind=kind)
        self.waited = waited
        self.last_state = last_state


class StepError(GitRollbackError):
    """A runbook step failed for good."""

    default_kind = "step_failed"

    def __init__(self, message: str, *, step: str, hint: str | None = None, kind: str | None = None) -> None:
        super().__init__(message, hint=hint, kind=kind)
        self.step = step


class PreconditionFailedError(StepError):
    """The run refused to act: nothing was changed."""

    default_kind = "precondition"


class ApplyFailedError(StepError):
    """Applying the known-good manifests failed; ``applied`` lists what did go in before the failure."""

    default_kind = "apply_failed"

    def __init__(
        self,
        message: str,
        *,
        step: str,
        applied: tuple[str, ...] = (),
        hint: str | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message, step=step, hint=hint, kind=kind)
        self.applied = applied


class VerificationFailedError(StepError):
    """The rollback ran but a verification check did not pass."""

    default_kind = "verification_failed"


_STATUS_CLASSES: dict[int, type[RemoteHTTPError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableError,
}


def http_error_class(status: int) -> type[RemoteHTTPError]:
    """The ``RemoteHTTPError`` subclass for an HTTP status (5xx -> ``ServerError``)."""
    return _STATUS_CLASSES.get(status) or (ServerError if status >= 500 else RemoteHTTPError)


def http_error(
    status: int,
    message: str,
    *,
    adapter: str,
    operation: str,
    remote_message: str = "",
    hint: str | None = None,
) -> RemoteHTTPError:
    """The ``RemoteHTTPError`` subclass for an HTTP status (5xx -> ``ServerError``), ready to raise."""
    cls = http_error_class(status)
    return cls(message, adapter=adapter, operation=operation, status=status, remote_message=remote_message, hint=hint)
