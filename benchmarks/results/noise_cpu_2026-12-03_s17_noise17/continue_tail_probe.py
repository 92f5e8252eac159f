import os, time, signal, tempfile
from pathlib import Path
from kernelswarm.evaluate.parent.procs import WorkerProcess
from kernelswarm.evaluate.parent import members
from kernelswarm.evaluate.worker import contain
d = Path(tempfile.mkdtemp(prefix=contain.PREFIX)); contain.claim_folder(d)
w = WorkerProcess("candidate", d / "candidate", "cpu")
time.sleep(3)
v = members.view_of(w.proc.pid)
print("view", type(v).__name__, "launcher", w.proc.pid, "pgid", os.getpgid(w.proc.pid))
print("states", v.states() if v else None, "outside", v.outside_group() if hasattr(v, "outside_group") else "n/a")
for name in os.listdir(f"/proc"):
    if name.isdigit():
        try:
            st = open(f"/proc/{name}/stat").read()
        except OSError: continue
        f = st[st.rindex(")")+2:].split()
        if f[2] == str(w.proc.pid) or f[3]==str(w.proc.pid):
            print(name, st[:st.rindex(")")+1], "ppid", f[1], "pgrp", f[2], "sid", f[3])
import statistics
ts=[]
for i in range(50):
    w.stops += 1
    from kernelswarm.evaluate.parent.devicelock import signal_group
    signal_group(w.proc.pid, signal.SIGSTOP)
    t=[0]
    def bc(): t[0]=time.perf_counter()
    signal_group(w.proc.pid, signal.SIGCONT, before_continue=bc)
    ts.append(1000*(time.perf_counter()-t[0]))
print("cont tail ms median", statistics.median(ts), "min", min(ts))
w.kill()
