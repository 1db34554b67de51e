"""``facegate serve``'s server: uvicorn over ``create_app``, with TLS and request-id logging.

- TLS (``server.tls_cert``/``tls_key``, or ``tls_self_signed``: ``facegate.tls``): uvicorn
  serves HTTPS only on the port, and every answer carries ``Strict-Transport-Security``
  (``server.hsts_max_age_s``). The certificate's SHA-256 fingerprint is printed at each start.
- Beyond loopback without TLS: a warning (API keys and photos would cross the network in the
  clear) unless TLS ends at a proxy in front; the server still refuses to start without a key.
- Log lines carry the request id (``%(request_id)s``, ``api.request_id``): facegate's own and
  uvicorn's access lines.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

import uvicorn
import uvicorn.config

from facegate.api.app import create_app
from facegate.api.request_id import RequestIdFilter
from facegate.config import Settings, is_loopback
from facegate.tls import tls_files

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"

logger = logging.getLogger("facegate")


def run(settings: Settings, say: Callable[[str], None]) -> None:
    """Serve until stopped; ``say`` prints what the operator must see whatever the log level."""
    server = settings.server
    tls = tls_files(server, settings.data_dir)
    options: dict[str, Any] = {}
    if tls is not None:
        options = {"ssl_certfile": str(tls.cert), "ssl_keyfile": str(tls.key)}
        if server.hsts_max_age_s:
            options["headers"] = [("Strict-Transport-Security",
                                   f"max-age={server.hsts_max_age_s}")]
        made = "made" if tls.created else "using"
        say(f"TLS: {made} certificate {tls.cert} (SHA-256 fingerprint {tls.fingerprint})")
    elif not is_loopback(server.host):
        logger.warning(
            "serving on %s over plain HTTP: API keys, session cookies and face photos cross the "
            "network unencrypted; serve TLS (--tls-cert/--tls-key or --tls-self-signed) unless "
            "a proxy in front of this server ends TLS (docs/deploy.md)", server.host)
    logger.info("serving on %s://%s:%d (gallery %s)", "https" if tls else "http", server.host,
                server.port, settings.storage_url.split("://")[0])
    uvicorn.run(create_app(settings), host=server.host, port=server.port,
                log_level=settings.log_level.lower(), server_header=False,
                log_config=log_config(), **options)


def log_config() -> dict[str, Any]:
    """uvicorn's logging, with the request id on its lines, and on facegate's (root) lines."""
    ids = RequestIdFilter()
    for handler in logging.getLogger().handlers:
        handler.addFilter(ids)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["filters"] = {"request_id": {"()": RequestIdFilter}}
    for handler in config["handlers"].values():
        handler["filters"] = ["request_id"]
    config["formatters"]["access"]["fmt"] += " [%(request_id)s]"
    return config
