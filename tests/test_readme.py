"""The README's code runs, and CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_tour_runs():
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert blocks, "README has no python example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second():
    commands = re.findall(r"```bash\n(.*?)\n```", README, re.S)
    assert commands[0].endswith("riskguard demo")
    assert "cargo test --workspace" in commands[1] and "pytest" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text()
    pattern = re.search(r"grep -m1 -E '(.*?)' README.md", ci).group(1)
    assert re.match(pattern, commands[1]), "CI would not find the README's test command"
