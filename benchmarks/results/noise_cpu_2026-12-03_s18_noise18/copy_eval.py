"""The test_paired copy-under-load test's evaluation, with its JSON kept: pass/fail by the same asserts."""
import json, os, subprocess, sys, tempfile, time
from pathlib import Path
root = Path(sys.argv[1]); n = int(sys.argv[2]); env_kv = sys.argv[3:]
prob = root / "tests/evaluate/problems/softmax_rows.py"
for i in range(n):
    with tempfile.TemporaryDirectory() as t:
        copy = Path(t) / "copy.py"; copy.write_text(prob.read_text().replace("class Model(", "class ModelNew("))
        env = {**os.environ, "KERNELSWARM_CACHE": str(Path(t) / "cache"), "PYTHONPATH": str(root / "src")}
        env.update(kv.split("=", 1) for kv in env_kv)
        l0 = os.getloadavg()[0]
        burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
        try:
            r = subprocess.run([sys.executable, "-m", "kernelswarm", "eval", str(prob), str(copy), "--device", "cpu", "--json",
                                "--min-speedup", "1.5", "--timeout", "600"], capture_output=True, text=True, env=env, timeout=900)
        finally:
            for p in burners:
                p.kill(); p.wait()
        try:
            d = json.loads(r.stdout)
        except Exception:
            print(json.dumps({"i": i, "error": r.stderr[-300:]}), flush=True); continue
        lo, hi = d["speedup_ci"] or (None, None)
        ok = d["verdict"] == "accepted" and lo is not None and lo <= 1.0 <= hi and lo <= d["speedup"] <= hi and r.returncode == 1
        charged = [c.get("detail", "")[:400] for c in d.get("checks", []) if "charged" in c.get("detail", "") or c.get("charge_ms")]
        print(json.dumps({"i": i, "env": env_kv, "ok": ok, "load": [round(l0, 1), round(os.getloadavg()[0], 1)], "at": time.strftime("%H:%M:%S"),
                          "verdict": d["verdict"], "speedup": round(d["speedup"] or 0, 3), "ci": [round(lo or 0, 3), round(hi or 0, 3)],
                          "reason": d.get("reason", "")[:300], "charged": charged}), flush=True)
