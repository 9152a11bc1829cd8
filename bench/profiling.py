"""py-spy attached to a server process for a stretch of load, summed into top-N tables.

Shared by bench_posts.py (`--profile`) and fanout.py (`--profile`).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

Handle = tuple[subprocess.Popen[bytes], Path]


def start_profiler(pid: int, workdir: Path, native: bool, name: str = "profile") -> Handle | None:
    """`py-spy record` on `pid` (raw collapsed stacks, 250 Hz), attached before the load starts."""
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        print("--profile: py-spy is not installed next to this Python", file=sys.stderr)
        return None
    out = workdir / f"{name}.txt"
    mode = ["--native"] if native else ["--nonblocking"]  # py-spy cannot do both
    proc = subprocess.Popen(
        [
            str(py_spy),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "250",
            "--output",
            str(out),
            *mode,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)
    return proc, out


def _frame(raw: str) -> tuple[str, str]:
    """py-spy's `function (path:line)` as (`function (path)`, path)."""
    name, _, where = raw.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    return (f"{name} ({path})" if path else name), path


def stop_profiler(handle: Handle, keep: Path) -> dict[str, Any]:
    """Stops py-spy and sums its samples: `self` by innermost frame (function, any package),
    `tent` by the innermost frame in the tent package (where our code spends, callees included).
    The raw collapsed stacks are copied to `keep`."""
    proc, out = handle
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if not out.exists() or not out.stat().st_size:
        why = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        print(f"py-spy wrote no profile: {why}", file=sys.stderr)
        return {}
    keep.parent.mkdir(exist_ok=True)
    shutil.copy(out, keep)
    own: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame(f) for f in stack.split(";")]
        samples += n
        own[frames[-1][0]] += n
        tent_frames = [name for name, path in frames if path.startswith("tent/") and path != "tent/cli.py"]
        ours[tent_frames[-1] if tent_frames else "(no tent frame: event loop, aiohttp, other threads)"] += n
        for name in {name for name, _ in frames}:
            total[name] += n

    def top(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {
                "function": f,
                "pct": round(100 * c / samples, 1),
                "total_pct": round(100 * total[f] / samples, 1),
            }
            for f, c in counter.most_common(20)
        ]

    return {"samples": samples, "self": top(own), "tent": top(ours), "raw": str(keep)}


def print_profile(title: str, profile: dict[str, Any], rows: int = 12) -> None:
    if not profile:
        return
    print(f"\n{title}: {profile['samples']:,} py-spy samples (raw stacks in {profile['raw']})")
    for key, heading in (
        ("tent", "innermost tent function (callees included)"),
        ("self", "innermost function (self time)"),
    ):
        print(f"{'%':>6}  {heading}")
        for row in profile[key][:rows]:
            print(f"{row['pct']:>6.1f}  {row['function']}")
