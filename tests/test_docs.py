"""The repository explains itself: every `§n.n` and `D-nn` that the code, tests and docs cite
names a section of docs/protocol.md or a decision of docs/decisions.md, and nothing cites
protocol notes kept outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITING = ["tent", "tests", "bench", "migrations", "docs", "README.md", "ARCHITECTURE.md"]
SUFFIXES = {".py", ".md", ".sql", ".lua", ".toml"}
SECTION = re.compile(r"§ ?(\d+(?:\.\d+)?)")
DECISION = re.compile(r"\bD-(\d{2,})\b")
OUTSIDE = re.compile(r"PROTOCOL\.md|NOTES\.md|shared/spec|\.\./shared")


def citing_files() -> list[Path]:
    files: list[Path] = []
    for name in CITING:
        path = ROOT / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [
                p for p in sorted(path.rglob("*")) if p.suffix in SUFFIXES and "data" not in p.parts
            ]
    return files


def protocol_sections() -> set[str]:
    """Headings `## 3.` / `### 3.10` (and combined headings) of docs/protocol.md."""
    sections: set[str] = set()
    for line in (ROOT / "docs" / "protocol.md").read_text().splitlines():
        m = re.match(r"^#{2,4} (\d+(?:\.\d+)?)\.? ", line)
        if m:
            sections.add(m.group(1))
    return sections


def decisions() -> set[str]:
    text = (ROOT / "docs" / "decisions.md").read_text()
    return set(re.findall(r"^\*\*D-(\d{2,}) ", text, re.MULTILINE))


def citations(pattern: re.Pattern[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in citing_files():
        if path.name == "test_docs.py":
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for m in pattern.finditer(line):
                found.setdefault(m.group(1), []).append(f"{path.relative_to(ROOT)}:{number}")
    return found


def test_every_cited_section_is_in_the_protocol_notes() -> None:
    known = protocol_sections()
    missing = {s: where for s, where in citations(SECTION).items() if s not in known}
    assert not missing, f"cited sections missing from docs/protocol.md: {missing}"


def test_every_cited_decision_is_in_the_decisions_file() -> None:
    known = decisions()
    missing = {d: where for d, where in citations(DECISION).items() if d not in known}
    assert not missing, f"cited decisions missing from docs/decisions.md: {missing}"


def test_decisions_are_numbered_without_gaps_or_repeats() -> None:
    text = (ROOT / "docs" / "decisions.md").read_text()
    numbers = [int(n) for n in re.findall(r"^\*\*D-(\d{2,}) ", text, re.MULTILINE)]
    assert numbers == list(range(1, len(numbers) + 1))


def test_nothing_cites_protocol_notes_outside_the_repository() -> None:
    outside = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in citing_files()
        if path.name != "test_docs.py"
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not outside, f"citations of files outside the repository: {outside}"
