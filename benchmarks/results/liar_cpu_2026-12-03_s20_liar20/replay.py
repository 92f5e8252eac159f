# Usage: python replay.py liar_readings.jsonl  (the tables of docs/benchmarks.md, session 20, liar20)
"""Each recorded window under three rules: main (the wall clock alone), 0bbaeda (the CPU cap, as recorded), P (the wall clock's own verdict on the uncapped excess, overturned only where the CPU-time check's figure is at most half the claims, no wall noise in that bar)."""
import json, re, statistics, sys
med = statistics.median
rows = []
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line)
        for k, w in enumerate(r.get("raw", [])):
            d = w["detail"]
            noise = float(re.search(r"noise allows ([\d.e+-]+) ms", d).group(1))
            m = re.search(r"; ([\d.e+-]+) ms beyond them, but its processes", d)
            excess = float(m.group(1)) if m else float(re.match(r"(?:the parent's wall clock disagrees with the claimed times: )?([\d.e+-]+) ms per call", d).group(1))
            claim = med(w["times"])
            main_rej = excess > max(2 * noise, claim)
            proven = w.get("cpu_proven")
            p_rej = main_rej and (proven is None or proven > 0.5 * claim)
            rows.append((r["scenario"].split("/")[1] if "=" not in r["scenario"] else "blocks_mlp", r["at"], k, r["load"], round(claim, 2), round(excess, 2), round(noise, 2),
                         round(w.get("cpu_room") or 0, 2), round(proven or 0, 2), "rej" if main_rej else "ok", "rej" if not w["believed"] else "ok", "rej" if p_rej else "ok", r["verdict"]))
print("| case | ended | window | load | claim | unclaimed excess | noise | cpu_room | cpu_proven | main | 0bbaeda | P | evaluation's verdict |")
print("|" + "---|" * 13)
for x in rows:
    print("| " + " | ".join(str(v) for v in x) + " |")
