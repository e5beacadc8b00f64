"""The documentation stays inside the repository and true to it: every link of README.md and docs/
resolves to a file (and heading) of the repository, nothing points outside it, the README's layout table
lists every module, and every docstring citation of docs/math.md names a section that exists."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _without_code(text):
    return re.sub(r"```.*?```", "", text, flags=re.S)


def _heading_anchors(path):
    """GitHub's anchors of a Markdown file: lower case, punctuation dropped, spaces to dashes."""
    anchors, seen = set(), {}
    for line in _without_code(path.read_text()).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if match:
            base = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
            count = seen.get(base, 0)
            anchors.add(base if count == 0 else f"{base}-{count}")
            seen[base] = count + 1
    return anchors


def test_every_link_resolves_inside_the_repository():
    problems = []
    for page in MARKDOWN:
        for target in LINK.findall(_without_code(page.read_text())):
            if re.match(r"^[a-z]+:", target):
                problems.append(f"{page.name}: external link {target}")
                continue
            path, _, fragment = target.partition("#")
            destination = (page.parent / path).resolve() if path else page
            if ROOT not in destination.parents and destination != ROOT:
                problems.append(f"{page.name}: {target} leaves the repository")
            elif not destination.exists():
                problems.append(f"{page.name}: {target} does not exist")
            elif fragment and fragment not in _heading_anchors(destination):
                problems.append(f"{page.name}: no heading #{fragment} in {destination.name}")
    assert not problems, "\n".join(problems)


def test_nothing_points_outside_the_repository():
    sources = [*ROOT.glob("formulations/**/*.py"), *ROOT.glob("solvers/**/*.py"), *ROOT.glob("examples/*.py"),
               *ROOT.glob("tests/*.py"), *MARKDOWN]
    outside = ("../" + "shared", "MATH" + ".md", "CONTRACT" + ".md")
    problems = [f"{path.relative_to(ROOT)} mentions {word}" for path in sources for word in outside
                if word in path.read_text()]
    assert not problems, "\n".join(problems)


def test_the_layout_table_lists_every_module():
    readme = (ROOT / "README.md").read_text()
    modules = sorted([*ROOT.glob("formulations/**/*.py"), *ROOT.glob("solvers/**/*.py")])
    missing = [str(m.relative_to(ROOT)) for m in modules if f"| `{m.relative_to(ROOT)}` |" not in readme]
    assert not missing, f"README layout table lacks {missing}"


def test_docstring_citations_name_existing_sections():
    sections = {int(n) for n in re.findall(r"^## (\d+)\. ", (ROOT / "docs" / "math.md").read_text(), re.M)}
    citation = re.compile(r"docs/math\.md,?\s+sections?\s+([\d ,.and\-]+)")
    problems = []
    for path in [*ROOT.glob("formulations/**/*.py"), *ROOT.glob("solvers/**/*.py")]:
        for match in citation.finditer(path.read_text()):
            for number in re.findall(r"\d+", match.group(1)):
                if int(number) not in sections and "." not in match.group(1):
                    problems.append(f"{path.relative_to(ROOT)} cites section {number}")
    assert sections >= set(range(1, 8)) and not problems, "\n".join(problems)
