"""`python -m tent.healthcheck [healthz|readyz]`: the container's HEALTHCHECK, with the image's
own Python and nothing else (the slim image has no curl). Asks the server this container runs,
on its port and under the path of `TENT_ENTITY`, and exits 0 only on a 200."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

from tent.config import Settings, settings_from

TIMEOUT = 3.0
_ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}


def probe_url(settings: Settings, probe: str = "readyz") -> str:
    host = _ANY_ADDRESS.get(settings.host, settings.host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}{settings.path_prefix}/{probe}"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    probe = args[0] if args else "readyz"
    if probe not in ("healthz", "readyz"):
        print("usage: python -m tent.healthcheck [healthz|readyz]", file=sys.stderr)
        return 2
    url = probe_url(settings_from(), probe)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            status = response.status
            body = response.read(4096)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(4096)
    except (OSError, ValueError) as exc:
        print(f"{url}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"{url}: HTTP {status} {body.decode(errors='replace')}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
