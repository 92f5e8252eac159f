import json, sys
rows = []
for f in sys.argv[1:]:
    for l in open(f):
        try: rows.append(json.loads(l))
        except Exception: pass
by = {}
for r in rows:
    by.setdefault((r["case"], r["tree"]), []).append(r["row"])
print("| case | tree | n | accepted | rejected by a clock (liar) | other | speedups of the accepted [intervals] | CPU time took wall time off (of all) | load |")
print("|---|---|---|---|---|---|---|---|---|")
for (case, tree), xs in sorted(by.items()):
    ok = [x for x in xs if x and x["verdict"] == "accepted"]
    liar = [x for x in xs if x and x["verdict"] == "rejected" and ("wall-clock" in x["reason"][:12] or x["noise_sensitive"])]
    other = len(xs) - len(ok) - len(liar)
    sp = ", ".join(f"{x['speedup']:.2f} [{x['ci'][0]:.2f}, {x['ci'][1]:.2f}]" for x in ok)
    cpu = sum(1 for x in xs if x and ("waiting for a core" in x["checks"].get("wall-clock", "") or "not rejected" in x["checks"].get("wall-clock", "")))
    loads = [v for x in xs if x for v in x["load"]]
    print(f"| {case.replace('_task','')} | {tree} | {len(xs)} | {len(ok)} | {len(liar)} | {other} | {sp} | {cpu} | {min(loads):.1f}-{max(loads):.1f} |")
for r in rows:
    x = r["row"]
    if x and x["verdict"] != "accepted":
        print(f"- {r['tree']} {r['case']}: {x['reason'][:400]}")
