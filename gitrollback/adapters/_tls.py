"""TLS verification settings for the HTTP adapters (Image Factory, Argo CD), in one place.

httpx 0.28 deprecates ``verify=<path>``; an ``SSLContext`` built from the CA bundle is the supported form. Turning
verification off is allowed per client but always logged as a warning. Stdlib only.
"""

from __future__ import annotations

import logging
import ssl

from gitrollback.errors import ConfigError

__all__ = ["tls_verify"]

logger = logging.getLogger(__name__)


def tls_verify(verify: bool | str, *, service: str, where: str, key: str) -> bool | ssl.SSLContext:
    """What to pass as httpx's ``verify``: True/False, or a context for a CA bundle path.

    Args:
        verify: True, False, or the path of a CA bundle.
        service: the remote's name, for the warning (``Argo CD``).
        where: its URL without credentials, for the warning.
        key: the config key that names the CA bundle, for the error.

    Raises:
        ConfigError: the CA bundle cannot be read or parsed.
    """
    if isinstance(verify, str):
        try:
            return ssl.create_default_context(cafile=verify)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load the CA bundle: {exc}", key=key) from exc
    if not verify:
        logger.warning("TLS verification is off for %s at %s", service, where)
    return verify
