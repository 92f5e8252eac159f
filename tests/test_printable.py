"""What a candidate wrote is shown as text (printable.py): no terminal controls, no markup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kernelswarm.printable import printable

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests/evaluate/candidates/cheat/terminal_escape.py"
PROBLEM = ROOT / "tests/evaluate/problems/relu_linear.py"


def _shown(text: str) -> bool:
    return all(ch.isprintable() or ch in "\n\t" for ch in text)


def test_controls_are_written_out_and_text_is_kept():
    assert printable("plain text\n\tindented, ünïcode, 中文") == "plain text\n\tindented, ünïcode, 中文"
    assert printable("a\x1b[2Jb\rc\x07\x7f\x9b") == "a\\x1b[2Jb\\x0dc\\x07\\x7f\\x9b"
    assert printable("x\u202edesrever\u200b\u2028") == "x\\u202edesrever\\u200b\\u2028"
    assert printable("") == ""


def test_an_evaluation_shows_a_hostile_message_as_text():
    """cheat/terminal_escape through `kernelswarm eval` on a terminal's path (no --json): nothing
    of its ESC sequences, carriage return or bidi override reaches the output raw, its rich markup
    is shown as written, and the reason is not the text it put after a carriage return."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "400", "TERM": "dumb"}
    out = subprocess.run([sys.executable, "-m", "kernelswarm", "eval", "--device", "cpu", str(PROBLEM), str(FIXTURE)],
                         capture_output=True, text=True, env=env, timeout=600, check=False)
    assert out.returncode == 1, out.stderr[-2000:]
    assert _shown(out.stdout), repr(out.stdout[:2000])
    assert "[bold green]accepted[/]" in out.stdout  # shown as written, not drawn
    assert "\\x1b]52;c;" in out.stdout and "\\u202e" in out.stdout
    first = out.stdout.splitlines()[0]
    assert "runtime_error" in first and "\\x1b[2J" in first, first  # the whole message, not its tail


def test_long_text_is_cut_saying_how_much():
    from kernelswarm.printable import capped

    assert capped("abc", 5) == "abc"
    assert capped("x" * 10, 4) == "xxxx... (6 more characters)"


def test_a_candidates_names_cannot_flood_its_evaluation():
    """cheat/range_name_flood: three 200 KB profiler range names. Before, the `kind` check's detail
    held all three whole (400 KB of its evaluation's 405 KB); now each name is cut and every
    detail is bounded."""
    import json

    sys.path.insert(0, str(ROOT / "tests/evaluate"))
    from fixtures import PROBLEMS, scenarios
    from test_fixtures import _options

    from kernelswarm.evaluate import evaluate
    from kernelswarm.problems import load_problem

    s = next(s for s in scenarios("cheat") if s.path.stem == "range_name_flood")
    ev = evaluate(load_problem(PROBLEMS / f"{s.problem}.py"), s.path.read_text(), _options(s))
    assert ev.verdict.value in s.verdicts, ev.reason
    kind = next(c.detail for c in ev.checks if c.name == "kind")
    assert "RRRR" in kind and "more characters" in kind and len(kind) < 1000, len(kind)
    assert len(json.dumps(ev.to_dict())) < 50_000


def test_an_enormous_error_message_stays_bounded():
    """cheat/huge_error: a 64 MB message (held already: reason 500, detail 2000, log tail 4000
    characters; the evaluation 8 KB as JSON)."""
    import json

    sys.path.insert(0, str(ROOT / "tests/evaluate"))
    from fixtures import PROBLEMS, scenarios
    from test_fixtures import _options

    from kernelswarm.evaluate import evaluate
    from kernelswarm.problems import load_problem

    s = next(s for s in scenarios("cheat") if s.path.stem == "huge_error")
    ev = evaluate(load_problem(PROBLEMS / f"{s.problem}.py"), s.path.read_text(), _options(s))
    assert ev.verdict.value in s.verdicts, ev.reason
    assert len(json.dumps(ev.to_dict())) < 50_000
