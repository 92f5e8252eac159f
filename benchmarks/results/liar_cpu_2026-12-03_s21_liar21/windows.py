"""Session 21 (liar21): each evaluation's windows (claim / unclaimed excess / cpu_proven / worked / run delay, ms)
from liar_readings.jsonl: python windows.py STREAM... (cheatB cheatC cheatD honestA honestF honestG idleE)."""
import json, sys, datetime
from pathlib import Path
HERE = Path(__file__).resolve().parent
V2 = "22:32:05"
def start(r):
    t = datetime.datetime.strptime(r["at"], "%H:%M:%S") - datetime.timedelta(seconds=r.get("wall_s") or 0)
    return t.strftime("%H:%M:%S")
rows = []
for f in sys.argv[1:]:
    try:
        for l in [l for l in open(HERE / "liar_readings.jsonl") if json.loads(l)["stream"] == f]:
            r = json.loads(l); r["stream"] = f; rows.append(r)
    except OSError:
        pass
print("| stream | scenario | tree | started | ended | load | verdict | speedup (bound) | windows: claim / unclaimed excess / cpu_proven / worked / run delay / wall-clock verdict |")
print("|---|---|---|---|---|---|---|---|---|")
for r in sorted(rows, key=lambda r: (r["scenario"], r["at"])):
    tree = r["tree"] if r["tree"] == "old" else ("new(v1)" if start(r) < V2 else "new")
    ws = []
    for j in r.get("judged", []):
        exc = j["slack"] - j["null_slack"]
        worked = (j["cpu_room"] - j["null_cpu"]) if j.get("null_cpu") is not None and j.get("cpu_room") is not None else None
        v = "undecided" if j.get("undecided") else ("liar" if not j["believed"] else f"ok x{j['charge']:.2f}")
        f = lambda x: "-" if x is None else f"{x:.3g}"
        ws.append(f"{f(j['claim'])}/{f(exc)}/{f(j.get('cpu_proven'))}/{f(worked)}/{f(j.get('delay'))} {v}")
    sp = r.get("speedup")
    name = r["scenario"].split("=")[-1].replace("tests/optimize/candidates/", "mlp:")
    print(f"| {r['stream']} | {name} | {tree} | {start(r)} | {r['at']} | {r['load'][0]}-{r['load'][1]} | {r['verdict']} | "
          f"{'-' if sp is None else f'{sp:.2f}'} ({r.get('max_speedup') or '-'}) | {'; '.join(ws)} |")
