"""Session 21 (liar21): old beside new per scenario and pass, from liar_readings.jsonl (docs/benchmarks.md)."""
import json, sys, datetime
from pathlib import Path
HERE = Path(__file__).resolve().parent
import collections
V2 = "22:32:05"
def start(r):
    t = datetime.datetime.strptime(r["at"], "%H:%M:%S") - datetime.timedelta(seconds=r.get("wall_s") or 0)
    return t.strftime("%H:%M:%S")
passes = {"burners": ["cheatB", "cheatC", "cheatD", "honestA", "honestF", "honestG"], "idle-ish": ["idleE"]}
cells = collections.defaultdict(list)
for p, streams in passes.items():
    for f in streams:
        try:
            lines = [l for l in open(HERE / "liar_readings.jsonl") if json.loads(l)["stream"] == f]
        except OSError:
            continue
        for l in lines:
            r = json.loads(l)
            tree = r["tree"] if r["tree"] == "old" else ("new v1" if start(r) < V2 else "new")
            sp = r.get("speedup")
            v = {"rejected": "rej", "accepted": "acc", "timeout": "TIMEOUT"}.get(r["verdict"], r["verdict"])
            cell = f"{v}" + (f" {sp:.2f}" if sp is not None else "") + f" [{r['load'][0]}-{r['load'][1]}]"
            name = r["scenario"].split("=")[-1].replace("tests/optimize/candidates/", "honest: ")
            cells[(name, p, tree)].append(cell + (" (v1)" if tree == "new v1" else ""))
            cells[(name, "bound")] = [str(r.get("max_speedup") or "-")]
names = sorted({k[0] for k in cells})
print("| scenario (bound) | burners: old (main) | burners: new | idle-ish: old | idle-ish: new |")
print("|---|---|---|---|---|")
for n in names:
    row = [f"{n} ({cells[(n, 'bound')][0]})"]
    for p in passes:
        row.append("; ".join(cells.get((n, p, "old"), [])) or "-")
        row.append("; ".join(cells.get((n, p, "new v1"), []) + cells.get((n, p, "new"), [])) or "-")
    print("| " + " | ".join(row) + " |")
