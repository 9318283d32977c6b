"""Resolve ``SecretRef``s from an environment mapping and a file reader the caller supplies.

The library never reads ``os.environ`` or files on its own: the CLI (or a library caller) passes both in. Errors
name the config key and where the secret was expected, never a value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gitrollback.errors import ConfigError
from gitrollback.settings import SecretRef

__all__ = ["FileReader", "resolve_secret"]

FileReader = Callable[[str], str]


def resolve_secret(ref: SecretRef, *, env: Mapping[str, str], read_file: FileReader | None, source: str = "") -> str:
    """The secret's value, stripped of surrounding white space.

    Raises:
        ConfigError: the variable is unset or empty, or the file cannot be read.
    """
    if ref.env:
        value = env.get(ref.env, "")
        if not value.strip():
            raise ConfigError(
                f"environment variable {ref.env} is not set",
                path=source or None,
                key=ref.key,
                hint=f"export {ref.env}=... (the token is never read from the config file itself)",
            )
        return value.strip()
    if ref.file is None:  # pragma: no cover - SecretRef always has one of the two
        raise ConfigError("secret reference names neither env nor file", key=ref.key)
    if read_file is None:
        raise ConfigError(f"secret file {ref.file} cannot be read here (no file reader given)", key=ref.key)
    try:
        value = read_file(ref.file)
    except OSError as exc:
        raise ConfigError(
            f"cannot read secret file {ref.file}: {exc.strerror or exc}", path=source or None, key=ref.key
        ) from exc
    if not value.strip():
        raise ConfigError(f"secret file {ref.file} is empty", path=source or None, key=ref.key)
    return value.strip()
