"""The GitLab API v4 routes of the simulator: projects, merge requests, notes, branches and users.

``GitLabApi`` owns the simulator's state and answers an already authenticated request whose path has been split
into *raw* segments (``grp%2Fapp`` stays one segment and is decoded here, as python-gitlab URL-encodes project
paths). Status codes and bodies follow GitLab's REST API: ``{"message": ...}`` for API errors (``"404 Project Not
Found"``, ``"404 Not found"`` for a merge request, ``"404 Branch Not Found"``), ``{"error": ...}`` for Grape's own
400/404/405, 409 with a list body for a duplicate open merge request.

List routes paginate as GitLab does (``page``, ``per_page`` default 20, max 100) and always send the full
header set ``X-Page``/``X-Per-Page``/``X-Total``/``X-Total-Pages``/``X-Next-Page``/``X-Prev-Page``/``Link``
(all or none, or python-gitlab mis-warns). The merge route follows GitLab's ``PUT
:id/merge_requests/:merge_request_iid/merge`` (gitlab-org/gitlab ``lib/api/merge_requests.rb``), including
auto-merge ("merge when pipeline succeeds"); see ``_merge`` for the order of its refusals.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode

from gitrollback.testing import _gitlab_git as git
from gitrollback.testing._gitlab_state import (
    PIPELINE_RUNNING,
    MergeRequest,
    Note,
    Project,
    User,
    now_iso,
    render_branch,
    render_mr,
    render_note,
    render_project,
    render_user,
)
from gitrollback.testing.clock import SimClock
from gitrollback.testing.server import Request, Response

__all__ = ["GitLabApi"]

_MR_STATES = {"opened", "closed", "merged", "locked", "all"}


def _message(status: int, message: Any) -> Response:
    return Response.json(status, {"message": message})


def _error(status: int, error: str) -> Response:
    return Response.json(status, {"error": error})


def _labels(value: Any) -> list[str]:
    items = value if isinstance(value, list) else str(value or "").split(",")
    return sorted({str(item).strip() for item in items if str(item).strip()})


def _ids(value: Any) -> list[int]:
    items = value if isinstance(value, list) else str(value or "").split(",")
    out: list[int] = []
    for item in items:
        if str(item).strip().isdigit() and int(item) > 0 and int(item) not in out:
            out.append(int(item))
    return out


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes")


def params(request: Request) -> dict[str, Any]:
    """Query parameters merged with a JSON or form body (GitLab accepts either)."""
    out: dict[str, Any] = {k.removesuffix("[]"): (v if k.endswith("[]") else v[0]) for k, v in request.query.items()}
    if request.body:
        if "json" in request.header("Content-Type", "application/json"):
            try:
                body = request.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                out.update(body)
        else:
            form = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
            out.update({k.removesuffix("[]"): (v if k.endswith("[]") else v[0]) for k, v in form.items()})
    return out


#: the merge endpoints modelled: ``current`` (lib/api/merge_requests.rb with ``build_merge_params`` and
#: ``execute_merge``), ``17`` (the ``immediately_mergeable?``/``automatically_mergeable?`` endpoint it replaced) and
#: ``legacy`` (older still: a conflict counted as broken, "Branch cannot be merged" a 406)
MERGE_APIS = ("current", "17", "legacy")

#: ``Gitlab::Access::DEVELOPER``: the least role that pushes branches and opens merge requests.
DEVELOPER = 30


class GitLabApi:
    """State plus route handlers; every public method is safe to call from any thread."""

    def __init__(
        self, root: Path, clock: SimClock, *, mergeability_delay: float = 0.0, merge_api: str = "current"
    ) -> None:
        if merge_api not in MERGE_APIS:
            raise ValueError(f"merge_api must be one of {', '.join(MERGE_APIS)}, not {merge_api!r}")
        self.root = root
        self.clock = clock
        self.mergeability_delay = mergeability_delay
        self.merge_api = merge_api
        self.lock = threading.RLock()
        self.projects: dict[int, Project] = {}
        self.users: dict[int, User] = {1: User(1, "gitrollback-bot", "gitrollback bot")}
        self.current_user_id = 1
        self._next_project_id = 101
        self._next_mr_id = 5001
        self._next_note_id = 9001
        self._next_user_id = 11

    # -- seeding ---------------------------------------------------------------------------------------

    def create_project(self, path_with_namespace: str, default_branch: str) -> Project:
        """A new project backed by a new bare repository at ``root/<path>.git``."""
        path = path_with_namespace.strip("/")
        if path.count("/") < 1 or any(not part for part in path.split("/")):
            raise ValueError(f"a project path needs a namespace: {path_with_namespace!r}")
        with self.lock:
            if self.find_project(path) is not None:
                raise ValueError(f"project already exists: {path}")
            repo = self.root / f"{path}.git"
            git.init_bare(repo, default_branch)
            project = Project(self._next_project_id, path, repo, default_branch)
            self.projects[project.id] = project
            self._next_project_id += 1
            return project

    def add_user(self, username: str, name: str | None = None) -> int:
        """Register a user (a possible reviewer); returns its id."""
        with self.lock:
            user = User(self._next_user_id, username, name or username)
            self.users[user.id] = user
            self._next_user_id += 1
            return user.id

    def render(self, project: Project, mr: MergeRequest, base: str, *, recheck: bool = False) -> dict[str, Any]:
        """A merge request's JSON now; ``recheck`` starts a due mergeability check, as the single-MR read does
        (``Entities::MergeRequest`` calls ``check_mergeability(async: true)``; lists skip it unless asked)."""
        status = project.mergeability(mr, self.clock.now(), self.mergeability_delay, recheck=recheck)
        return render_mr(project, mr, self.users, base, status)

    def pipeline_finished(self, project: Project) -> None:
        """Act on auto-merges after the head pipeline changed: merge on success, abort on failure."""
        with self.lock:
            for mr in list(project.merge_requests.values()):
                if mr.state != "opened" or mr.auto_merge_by is None:
                    continue
                if project.pipeline_status == "success":
                    ready = project.state_failure(mr, skip_ci=False) is None and project.git_failure(mr) is None
                    if ready:
                        self._perform_merge(project, mr, mr.auto_merge_by, None, remove_source=False)
                elif project.pipeline_status not in PIPELINE_RUNNING:
                    # AutoMerge::BaseService#abort: the auto-merge is dropped with a system note
                    mr.auto_merge_by = None
                    self._system_note(mr, "aborted the automatic merge because the pipeline failed")

    def _system_note(self, mr: MergeRequest, body: str) -> None:
        mr.notes.append(Note(self._next_note_id, body, self.current_user_id, now_iso(self.clock.now())))
        self._next_note_id += 1

    def find_project(self, ref: str) -> Project | None:
        """A project by numeric id or by ``path_with_namespace`` (already URL-decoded)."""
        with self.lock:
            if ref.isdigit():
                return self.projects.get(int(ref))
            return next((p for p in self.projects.values() if p.path_with_namespace == ref), None)

    # -- dispatch --------------------------------------------------------------------------------------

    def handle(self, request: Request, segments: list[str], base: str) -> Response:
        """Answer ``/api/v4/<segments...>``; ``base`` is the URL prefix of the request (scheme, host, root)."""
        method = request.method
        if segments == ["user"]:
            return self._only(method, "GET", lambda: Response.json(200, render_user(self.users[1], base)))
        if segments == ["users"]:
            return self._only(method, "GET", lambda: self._list_users(request, base))
        if len(segments) < 2 or segments[0] != "projects":
            return _error(404, "404 Not Found")
        with self.lock:
            project = self.find_project(unquote(segments[1]))
            if project is None:
                return _message(404, "404 Project Not Found")
            rest = segments[2:]
            if not rest:
                return self._only(method, "GET", lambda: Response.json(200, render_project(project, base)))
            if rest[0] == "repository" and len(rest) >= 3 and rest[1] == "branches":
                branch = "/".join(unquote(s) for s in rest[2:])
                return self._only(method, "GET", lambda: self._branch(project, branch, base))
            if rest[0] == "merge_requests":
                return self._merge_requests(request, project, rest[1:], base)
        return _error(404, "404 Not Found")

    @staticmethod
    def _only(method: str, allowed: str, answer: Callable[[], Response]) -> Response:
        return answer() if method == allowed else _error(405, "405 Not Allowed")

    def _merge_requests(self, request: Request, project: Project, rest: list[str], base: str) -> Response:
        method = request.method
        if not rest:
            if method == "GET":
                return self._list_mrs(request, project, base)
            if method == "POST":
                return self._create_mr(params(request), project, base)
            return _error(405, "405 Not Allowed")
        if not rest[0].isdigit() or len(rest) > 2:
            return _error(404, "404 Not Found")
        mr = project.merge_requests.get(int(rest[0]))
        if mr is None:
            return _message(404, "404 Not found")
        tail = rest[1] if len(rest) == 2 else ""
        if tail == "" and method == "GET":
            return Response.json(200, self.render(project, mr, base, recheck=True))
        if tail == "" and method == "PUT":
            return self._update_mr(params(request), project, mr, base)
        if tail == "merge":
            return self._only(method, "PUT", lambda: self._merge(params(request), project, mr, base))
        if tail == "notes" and method == "GET":
            notes = sorted(mr.notes, key=lambda n: n.id, reverse=params(request).get("sort", "desc") != "asc")
            return paginate(request, base, [render_note(mr, n, self.users, base) for n in notes])
        if tail == "notes" and method == "POST":
            return self._create_note(params(request), mr, base)
        if tail in ("", "notes"):
            return _error(405, "405 Not Allowed")
        return _error(404, "404 Not Found")

    # -- handlers --------------------------------------------------------------------------------------

    def _list_users(self, request: Request, base: str) -> Response:
        wanted = (request.query_value("username") or "").lower()
        with self.lock:
            users = [u for u in self.users.values() if not wanted or u.username.lower() == wanted]
            return paginate(request, base, [render_user(u, base) for u in users])

    def _branch(self, project: Project, branch: str, base: str) -> Response:
        head = git.branch_head(project.repo, branch)
        if head is None:
            return _message(404, "404 Branch Not Found")
        return Response.json(200, render_branch(project, branch, head, base))

    def _list_mrs(self, request: Request, project: Project, base: str) -> Response:
        query = params(request)
        state = query.get("state", "all")
        if state not in _MR_STATES:
            return _error(400, "state does not have a valid value")
        wanted_labels = set(_labels(query.get("labels")))
        mrs = [
            mr
            for mr in sorted(project.merge_requests.values(), key=lambda m: m.id, reverse=True)
            if state in ("all", mr.state)
            and query.get("source_branch") in (None, mr.source_branch)
            and query.get("target_branch") in (None, mr.target_branch)
            and wanted_labels <= set(mr.labels)
        ]
        recheck = _truthy(query.get("with_merge_status_recheck"))
        return paginate(request, base, [self.render(project, mr, base, recheck=recheck) for mr in mrs])

    def _duplicate_of(
        self, project: Project, source_branch: str, target_branch: str, but: int = 0
    ) -> MergeRequest | None:
        # GitLab's MergeRequest#validate_branches matches source AND target branch among open MRs (the message still
        # says "for this source branch"): the same source branch into another target is allowed.
        return next(
            (
                m
                for m in project.merge_requests.values()
                if m.state == "opened"
                and m.source_branch == source_branch
                and m.target_branch == target_branch
                and m.iid != but
            ),
            None,
        )

    def _create_mr(self, body: dict[str, Any], project: Project, base: str) -> Response:
        if project.access_level < DEVELOPER:  # creating a merge request needs Developer (docs: permissions)
            return _message(403, "403 Forbidden")
        missing = [key for key in ("source_branch", "target_branch", "title") if not body.get(key)]
        if missing:
            return _error(400, ", ".join(f"{key} is missing" for key in missing))
        source, target = str(body["source_branch"]), str(body["target_branch"])
        if source == target:
            # GitLab's API helper answers a ``branch_conflict`` validation error with 422 and only the
            # ``validate_branches`` one (the duplicate) with 409 (from GitLab's handle_merge_request_errors!;
            # not confirmed against a live server).
            return _message(422, ["You can't use same project/branch for source and target"])
        for kind, branch in (("Source", source), ("Target", target)):
            if git.rev(project.repo, f"refs/heads/{branch}") is None:
                # GitLab's exact status for a missing branch is unverified; 422 with a list body is our choice.
                return _message(422, [f'{kind} branch "{branch}" does not exist'])
        duplicate = self._duplicate_of(project, source, target)
        if duplicate is not None:
            return _message(
                409, [f"Another open merge request already exists for this source branch: !{duplicate.iid}"]
            )
        now = self.clock.now()
        stamp = now_iso(now)
        mr = MergeRequest(
            id=self._next_mr_id,
            iid=project.next_iid,
            project_id=project.id,
            title=str(body["title"]),
            description=str(body.get("description") or ""),
            source_branch=source,
            target_branch=target,
            author_id=self.current_user_id,
            created_at=stamp,
            updated_at=stamp,
            labels=_labels(body.get("labels")),
            reviewer_ids=[i for i in _ids(body.get("reviewer_ids")) if i in self.users],
            prepared_at=now + timedelta(seconds=self.mergeability_delay / 2),
        )
        self._next_mr_id += 1
        project.next_iid += 1
        project.merge_requests[mr.iid] = mr
        return Response.json(201, self.render(project, mr, base))

    def _update_mr(self, body: dict[str, Any], project: Project, mr: MergeRequest, base: str) -> Response:
        for key in ("title", "description", "target_branch"):
            if key in body and body[key] is not None:
                setattr(mr, key, str(body[key]))
        if "labels" in body:
            mr.labels = _labels(body["labels"])
        if "add_labels" in body:
            mr.labels = sorted(set(mr.labels) | set(_labels(body["add_labels"])))
        if "remove_labels" in body:
            mr.labels = sorted(set(mr.labels) - set(_labels(body["remove_labels"])))
        if "reviewer_ids" in body:
            mr.reviewer_ids = [i for i in _ids(body["reviewer_ids"]) if i in self.users]
        event = body.get("state_event")
        if event == "close" and mr.state == "opened":
            mr.state, mr.closed_at = "closed", now_iso(self.clock.now())
        elif event == "reopen" and mr.state == "closed":
            duplicate = self._duplicate_of(project, mr.source_branch, mr.target_branch, but=mr.iid)
            if duplicate is not None:
                return _message(
                    409, [f"Another open merge request already exists for this source branch: !{duplicate.iid}"]
                )
            mr.state, mr.closed_at = "opened", None
        mr.updated_at = now_iso(self.clock.now())
        return Response.json(200, self.render(project, mr, base, recheck=True))

    def _create_note(self, body: dict[str, Any], mr: MergeRequest, base: str) -> Response:
        text = body.get("body")
        if not text:
            return _error(400, "body is missing")
        note = Note(self._next_note_id, str(text), self.current_user_id, now_iso(self.clock.now()))
        self._next_note_id += 1
        mr.notes.append(note)
        return Response.json(201, render_note(mr, note, self.users, base))

    def _merge(self, body: dict[str, Any], project: Project, mr: MergeRequest, base: str) -> Response:
        """``PUT .../merge`` in the order of GitLab's endpoint (gitlab-org/gitlab ``lib/api/merge_requests.rb``).

        Current GitLab (``merge_api="current"``):

        1. 401 ``unauthorized!`` when the user may not merge into the (protected) target branch; python-gitlab
           turns it into ``GitlabAuthenticationError`` although the token is valid.
        2. 409 ``SHA does not match HEAD of source branch: <sha>`` when ``sha`` is given and is not the source
           branch's head (``build_merge_params`` runs ``check_sha_param!`` before any mergeability check).
        3. ``execute_merge``: with ``merge_when_pipeline_succeeds`` (or ``auto_merge``) an auto-merge strategy is
           set when every check but the pipeline passes and the head pipeline still runs; else, when no pipeline
           exists or it succeeded (``pipeline_allows_merge?``), the merge is immediate; else 405. Without it, a
           ``mergeable?`` merge request (every check, git included, on a settled status) is merged and anything
           else is 405 ``not_allowed!`` with no detail: callers re-read ``detailed_merge_status`` to learn why.
        4. An immediate merge answers 422 ``Branch cannot be merged`` when ``mergeable?`` fails after all or git
           refuses the merge (``execute_immediate_merge!``).

        A merge request nobody checked yet is checked on the spot (``check_mergeability`` runs synchronously when
        no background check holds the lease); one whose diff is still being prepared has no commits yet.

        ``merge_api="17"`` answers as the endpoint before ``execute_merge`` did: 405 unless *immediately
        mergeable* (``mergeable_state?``: approvals, open, not draft, discussions, pipeline; with auto-merge, a
        succeeded pipeline) or *automatically mergeable*; then 422 ``Branch cannot be merged`` for a git check that
        fails (a conflict, a needed rebase, a background check still running); only then the 409 for a stale
        ``sha``. ``merge_api="legacy"`` is older still: ``mergeable_state?`` counted a conflict as a ``broken?``
        merge request (405, gitlab-org/gitlab#364102), and "Branch cannot be merged" was a 406.
        """
        if not project.may_merge(mr.target_branch):
            return _message(401, "401 Unauthorized")
        auto = _truthy(body.get("merge_when_pipeline_succeeds")) or _truthy(body.get("auto_merge"))
        sha = body.get("sha")
        current = git.rev(project.repo, f"refs/heads/{mr.source_branch}")
        stale = _message(409, "SHA does not match HEAD of source branch: " + str(current))
        if self.merge_api == "current" and sha and sha != current:
            return stale
        now = self.clock.now()
        phase = project.lifecycle(mr, now, self.mergeability_delay, recheck=False)
        if phase == "unchecked":
            phase = self._check_now(project, mr)
        git_failure = project.git_failure(mr) if phase == "checked" else None
        state_failure = project.state_failure(mr, skip_ci=False) or ("commits_status" if phase == "preparing" else None)
        if self.merge_api == "legacy" and git_failure == "conflict":
            state_failure = state_failure or "broken_status"
        besides_ci = project.state_failure(mr, skip_ci=True) is None and phase != "preparing"
        automatically = auto and besides_ci and project.pipeline_status in PIPELINE_RUNNING and git_failure is None
        mergeable = phase == "checked" and git_failure is None and state_failure is None
        cannot = _message(406 if self.merge_api == "legacy" else 422, "Branch cannot be merged")
        if self.merge_api == "current":
            if auto and not automatically and project.pipeline_status not in (None, "success"):
                return _message(405, "405 Method Not Allowed")
            if not auto and not mergeable:
                return _message(405, "405 Method Not Allowed")
            if not automatically and not mergeable:
                return cannot
        else:
            immediately = project.pipeline_status == "success" if auto else state_failure is None
            if not immediately and not automatically:
                return _message(405, "405 Method Not Allowed")
            if not automatically and not mergeable:
                return cannot
            if sha and sha != current:
                return stale
        if automatically:
            mr.auto_merge_by = self.current_user_id
            mr.updated_at = now_iso(now)
            return Response.json(200, self.render(project, mr, base))
        if not self._perform_merge(
            project,
            mr,
            self.current_user_id,
            str(body.get("merge_commit_message") or "") or None,
            remove_source=_truthy(body.get("should_remove_source_branch")),
        ):
            return cannot
        return Response.json(200, self.render(project, mr, base))

    def _check_now(self, project: Project, mr: MergeRequest) -> str:
        """Settle an unchecked merge request at once (the synchronous ``check_mergeability`` of a merge)."""
        source = git.rev(project.repo, f"refs/heads/{mr.source_branch}")
        target = git.rev(project.repo, f"refs/heads/{mr.target_branch}")
        if source is not None and target is not None:
            mr.checked_of = (source, target)
        return "checked"

    def _perform_merge(
        self, project: Project, mr: MergeRequest, user_id: int, message: str | None, *, remove_source: bool
    ) -> bool:
        """Merge ``mr`` with the project's merge method as ``user_id``; False when git refuses (conflict, moved)."""
        user = self.users[user_id]
        source = git.rev(project.repo, f"refs/heads/{mr.source_branch}")
        target = git.rev(project.repo, f"refs/heads/{mr.target_branch}")
        if source is None or target is None:
            return False
        try:
            if project.merge_method == "ff":
                git.fast_forward(project.repo, target_branch=mr.target_branch, source=source, expected=target)
                commit: str | None = None
            else:
                commit = git.merge(
                    project.repo,
                    target_branch=mr.target_branch,
                    source_branch=mr.source_branch,
                    message=message
                    or (
                        f"Merge branch '{mr.source_branch}' into '{mr.target_branch}'\n\n{mr.title}\n\n"
                        f"See merge request {project.path_with_namespace}!{mr.iid}"
                    ),
                    user_name=user.name,
                    user_email=f"{user.username}@example.invalid",
                    when=self.clock.now(),
                )
        except (git.MergeConflict, git.GitFailure):
            return False
        stamp = now_iso(self.clock.now())
        mr.state, mr.merged_at, mr.updated_at = "merged", stamp, stamp
        mr.merge_commit_sha, mr.merged_sha, mr.merged_by_id = commit, source, user_id
        mr.auto_merge_by = None
        if remove_source:
            git.delete_branch(project.repo, mr.source_branch)
        return True


def paginate(request: Request, base: str, items: list[dict[str, Any]]) -> Response:
    """One page of ``items`` with GitLab's full pagination header set (offset pagination)."""
    try:
        page = max(1, int(request.query_value("page") or 1))
        per_page = min(100, max(1, int(request.query_value("per_page") or 20)))
    except ValueError:
        return _error(400, "page is invalid")
    total = len(items)
    pages = max(1, -(-total // per_page))
    chunk = items[(page - 1) * per_page : page * per_page]

    def link(n: int) -> str:
        query = {k: v for k, v in request.query.items() if k not in ("page", "per_page")}
        query["page"], query["per_page"] = [str(n)], [str(per_page)]
        prefix = base.split("://", 1)[0] + "://" + base.split("://", 1)[1].split("/", 1)[0]
        return f"{prefix}{request.raw_path}?{urlencode(query, doseq=True)}"

    rels = []
    if page > 1:
        rels.append(f'<{link(page - 1)}>; rel="prev"')
    if page < pages:
        rels.append(f'<{link(page + 1)}>; rel="next"')
    rels += [f'<{link(1)}>; rel="first"', f'<{link(pages)}>; rel="last"']
    headers = {
        "X-Page": str(page),
        "X-Per-Page": str(per_page),
        "X-Total": str(total),
        "X-Total-Pages": str(pages),
        "X-Next-Page": str(page + 1) if page < pages else "",
        "X-Prev-Page": str(page - 1) if page > 1 else "",
        "Link": ", ".join(rels),
    }
    return Response(
        200, (json.dumps(chunk, separators=(",", ":")) + "\n").encode(), {"Content-Type": "application/json", **headers}
    )
