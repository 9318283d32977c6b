"""JSON over urllib, with gitrollback's errors at the boundary."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from gitrollback.errors import AdapterError, http_error


def call(
    method: str, url: str, *, headers: dict[str, str], body: Any = None, content_type: str = "application/json"
) -> Any:
    """One request; the JSON answer, or a ``gitrollback.errors`` class for an HTTP error."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers))
    if data is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read().decode("utf-8", "replace")
        raise http_error(exc.code, f"{method} {url}: {raw[:300]}", adapter="example", operation=method) from exc
    except OSError as exc:
        raise AdapterError(f"{method} {url}: {exc}", adapter="example", operation=method) from exc
    return json.loads(text) if text.strip() else {}
