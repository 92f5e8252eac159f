"""The child process of problems/screened.py: screen one problem read from stdin (JSON) and print
its reasons as one JSON line. It runs the user's own problem code, never a candidate's."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    request = json.loads(sys.stdin.read())
    from kernelswarm.problems.load import Problem
    from kernelswarm.problems.screen import screen

    problem = Problem(name=request["name"], path=Path(request["path"]), source=request["source"],
                      hash=request["hash"], level=request.get("level"), sizes=request.get("sizes") or {})
    result = screen(problem, request["device"], time_it=False)
    sys.stdout.write("\n" + json.dumps({"reasons": result.reasons}) + "\n")


if __name__ == "__main__":
    main()
