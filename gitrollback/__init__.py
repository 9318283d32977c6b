"""gitrollback: roll Image Factory's Tekton assets back to the last known-good revision."""

from __future__ import annotations

__version__ = "0.1.0"
