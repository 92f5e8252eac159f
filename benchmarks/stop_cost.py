"""What a stop and continue costs an idle torch process (2 threads), by two trees' cputime.stop_cost_ms
side by side, with N burners of its own: `python benchmarks/stop_cost.py --old OLD/src --burners 2`
(OLD from `git archive REV src | tar -x -C OLD`). Prints one JSON line: ms per stop, 6 readings each."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

NEW = Path(__file__).resolve().parents[1] / "src"


def _load(src: str, name: str):
    spec = importlib.util.spec_from_file_location(name, Path(src) / "kernelswarm/evaluate/parent/cputime.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True, help="the old tree's src folder")
    ap.add_argument("--burners", type=int, default=2)
    ap.add_argument("--readings", type=int, default=6)
    a = ap.parse_args()
    old, new = _load(a.old, "old_cputime"), _load(str(NEW), "new_cputime")
    idle = ("import sys, torch; torch.set_num_threads(2); x = torch.randn(256, 256); "
            "[torch.softmax(x @ x, 1) for _ in range(20)]; print('ready', flush=True); sys.stdin.read()")
    child = subprocess.Popen([sys.executable, "-c", idle],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    child.stdout.readline()
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(a.burners)]
    try:
        time.sleep(1)
        out = {"burners": a.burners, "load": os.getloadavg()[0], "old": [], "new": []}
        for _ in range(a.readings):
            out["old"].append(round(old.stop_cost_ms(child.pid), 4))
            out["new"].append(round(new.stop_cost_ms(child.pid), 4))
        out["load_end"] = os.getloadavg()[0]
        print(json.dumps(out))
    finally:
        for b in burners:
            b.kill()
        child.kill()


if __name__ == "__main__":
    main()
