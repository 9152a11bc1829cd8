"""Log lines on stderr: readable text by default, or one JSON object a line for log shippers
(`TENT_LOG_FORMAT=json`, through python-json-logger)."""

from __future__ import annotations

import logging

from pythonjsonlogger.orjson import OrjsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(level: str, log_format: str) -> None:
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(
            OrjsonFormatter(
                "%(levelname)s %(name)s %(process)d %(message)s",
                rename_fields={"levelname": "level", "name": "logger", "process": "pid"},
                timestamp=True,
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
