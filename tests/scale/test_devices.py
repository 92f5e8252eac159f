"""`--devices`: which GPUs a run uses, and a run placed over several slots (fake GPUs on a CPU box)."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from pathlib import Path

import pytest
from scale_fakes import LINEAR, fake_baselines, fake_evaluate, no_screen
from typer.testing import CliRunner

import kernelswarm.scale.devices as devices_module
from kernelswarm.agents.builtin import builtin_agents
from kernelswarm.cli import app
from kernelswarm.evaluate.parent.procs import WorkerProcess
from kernelswarm.problems.load import load_problem
from kernelswarm.scale.devices import DeviceError, Gpu, resolve_devices, visible_gpus
from kernelswarm.scale.placement import NowhereToTime, Slot, gpu_slots, run_placed
from kernelswarm.store import Store
from kernelswarm.supervisor import RunConfig, Supervisor

runner = CliRunner()
ROWS = [("0", "GPU-aaaa", "NVIDIA H200"), ("1", "GPU-bbbb", "NVIDIA H200"), ("2", "GPU-cccc", "NVIDIA A100")]


def test_cuda_visible_devices_renumbers_gpus_as_cuda_does() -> None:
    assert [g.visible for g in visible_gpus(ROWS, None)] == ["0", "1", "2"]
    seen = visible_gpus(ROWS, "2,GPU-bbbb")
    assert [(g.label, g.visible, g.name) for g in seen] == [("cuda:0", "2", "NVIDIA A100"), ("cuda:1", "1", "NVIDIA H200")]
    assert [g.physical_index for g in seen] == [2, 1]
    assert visible_gpus(ROWS, "1,9,0") == [Gpu(0, "NVIDIA H200", "1")]  # an unknown entry ends the list
    assert visible_gpus(ROWS, "") == []


def test_devices_all_or_a_list_of_one_model() -> None:
    gpus = visible_gpus(ROWS, None)
    assert [g.label for g in resolve_devices("cuda:1, cuda:0", gpus)] == ["cuda:1", "cuda:0"]
    assert len(resolve_devices("all", gpus[:2])) == 2
    for spec, message in [("all", "one GPU model"), ("cuda:0,cuda:2", "one GPU model"), ("cuda:3", "does not exist"),
                          ("cuda:0,cuda:0", "named twice"), ("gpu0", "not a GPU name"), ("cuda:1,", "not a GPU name")]:
        with pytest.raises(DeviceError, match=message):
            resolve_devices(spec, gpus)
    with pytest.raises(DeviceError, match="no GPU is visible"):
        resolve_devices("all", [])
    with pytest.raises(DeviceError, match="no GPU is visible"):
        resolve_devices("cuda:9", [])
    # A user on a CPU trying CPU slots hears about the name, and what does that on CPUs.
    with pytest.raises(DeviceError, match="'cpu' is not a GPU name; .* --ray local gives one evaluator per CPU slot"):
        resolve_devices("cpu,cpu", [])


def test_a_worker_sees_only_its_gpu(tmp_path: Path) -> None:
    w = WorkerProcess("reference", tmp_path / "w", "cpu", gpu="GPU-bbbb")
    try:
        env = dict(kv.split("=", 1) for kv in Path(f"/proc/{w.proc.pid}/environ").read_text().split("\0") if "=" in kv)
    finally:
        w.kill()
    assert env["CUDA_VISIBLE_DEVICES"] == "GPU-bbbb"


def _problems(n: int) -> list:
    base = load_problem(Path(LINEAR))
    return [dataclasses.replace(base, name=f"p{i}", hash=f"{base.hash}{i}") for i in range(n)]


def test_each_problem_is_timed_whole_on_one_gpu_and_the_gpus_share_the_run(tmp_path: Path, fake) -> None:
    seen: list[tuple[str, str, str]] = []  # (what, problem, gpu the workers would see)
    guard = threading.Lock()

    def evaluate(problem, source, options):
        with guard:
            seen.append(("candidate", problem.name, options.gpu))
        time.sleep(0.02)
        return fake_evaluate(problem, source, options)

    def baselines(problem, device, options=None, **kw):
        with guard:
            seen.append(("baselines", problem.name, options.gpu))
        return fake_baselines(problem, device, **kw)

    gpus = [Gpu(0, "NVIDIA H200", "4"), Gpu(1, "NVIDIA H200", "6")]
    slots = gpu_slots(gpus, evaluate, baselines)
    store = Store(tmp_path / "k.db")
    config = RunConfig(device="cpu", agents=["compile", "compile-freezing"])
    agents = builtin_agents(["compile", "compile-freezing"])
    run_id = run_placed(store, config, agents, slots, _problems(6))
    where = {}
    for _, name, gpu in seen:
        where.setdefault(name, set()).add(gpu)
    assert all(len(g) == 1 for g in where.values()), where  # baselines and candidates on one GPU
    assert set().union(*where.values()) == {"4", "6"}  # both GPUs got problems
    assert sum(w == "baselines" for w, _, _ in seen) == 6 and sum(w == "candidate" for w, _, _ in seen) == 12
    rows = store.candidates(run_id)
    assert len(rows) == 12 and all(r.verdict == "accepted" for r in rows)
    assert {r.timed_on.split()[-1] for r in rows} == {"cuda:4", "cuda:6"}  # the host's own GPU numbers
    assert all(r.timed_on.split()[-1] == f"cuda:{next(iter(where[r.problem]))}" for r in rows)
    assert store.run(run_id).status == "finished"


def test_devices_screen_each_problem_on_its_gpu_as_a_plain_run_does(tmp_path: Path, monkeypatch) -> None:
    """Screening in a run spread over GPUs is the plain run's (supervisor._real_screener): each
    problem once, in a child that sees the GPU its slot times on, its findings stored, the problem
    marked and kept out of the headline; a plain run finds the same."""
    import kernelswarm.problems.screened as screened
    import kernelswarm.supervisor as supervisor_module
    from kernelswarm.report.data import report_data_from_store

    monkeypatch.setattr(supervisor_module, "_real_evaluator", lambda: fake_evaluate)
    monkeypatch.setattr(supervisor_module, "_real_baseline_timer", lambda: fake_baselines)
    children: list[tuple[str, str, str | None]] = []  # (problem, device, gpu the screen saw)
    timed_on: dict[str, set] = {}
    guard = threading.Lock()

    def child(problem, device, timeout_s, gpu, lock=None):
        with guard:
            children.append((problem.name, device, gpu))
        return (["output is tiny: zeros would pass"] if problem.name in ("p0", "p3") else []), True

    def evaluate(problem, source, options):
        with guard:
            timed_on.setdefault(problem.name, set()).add(options.gpu)
        return fake_evaluate(problem, source, options)

    monkeypatch.setattr(screened, "_screen_in_child", child)
    monkeypatch.setenv("KERNELSWARM_CACHE", str(tmp_path / "cache-placed"))
    config = RunConfig(device="cuda", agents=["compile"])
    gpus = [Gpu(0, "NVIDIA H200", "4"), Gpu(1, "NVIDIA H200", "6")]
    store = Store(tmp_path / "placed.db")
    run_id = run_placed(store, config, builtin_agents(["compile"]), gpu_slots(gpus, evaluate), _problems(4))
    assert sorted(name for name, _, _ in children) == ["p0", "p1", "p2", "p3"]  # each problem once
    assert all(timed_on[name] == {gpu} and device == "cuda" for name, device, gpu in children), (children, timed_on)
    placed = {r.name: r.flags for r in store.problem_results(run_id)}
    assert {name for name, flags in placed.items() if flags} == {"p0", "p3"}
    data = report_data_from_store(tmp_path / "placed.db", run_id)
    assert data.overall().n_flagged == 2 and data.overall().n == 2  # apart from the headline

    children.clear()  # the same problems in a plain run (its own cache): the same rule, the same findings
    monkeypatch.setenv("KERNELSWARM_CACHE", str(tmp_path / "cache-plain"))
    plain_store = Store(tmp_path / "plain.db")
    plain_id = Supervisor(plain_store, config, builtin_agents(["compile"]), evaluator=fake_evaluate,
                          baseline_timer=fake_baselines, screener_for=supervisor_module._real_screener).run(_problems(4))
    assert {r.name: r.flags for r in plain_store.problem_results(plain_id)} == placed
    assert sorted(children) == [(f"p{i}", "cuda", None) for i in range(4)]


def test_a_failing_slot_stops_the_others_and_the_run_resumes(tmp_path: Path) -> None:
    calls: list[str] = []

    def broken(problem, source, options):
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C during this evaluation

    def fine(problem, source, options):
        calls.append(problem.name)
        time.sleep(0.05)
        return fake_evaluate(problem, source, options)

    store = Store(tmp_path / "k.db")
    config = RunConfig(device="cpu", agents=["compile"])
    agents = builtin_agents(["compile"])
    slots = [Slot("a", fine, fake_baselines, no_screen), Slot("b", broken, fake_baselines, no_screen)]
    with pytest.raises(KeyboardInterrupt):
        run_placed(store, config, agents, slots, _problems(8))
    [run] = store.list_runs()
    assert run.status == "running" and len(calls) < 8  # stopped early, resumable
    done_before = len(store.candidates(run.id))
    run_placed(store, config, agents, [Slot("a", fine, fake_baselines, no_screen)], [], run_id=run.id)
    rows = store.candidates(run.id)
    assert len(rows) == 8 and all(r.verdict == "accepted" for r in rows) and done_before <= 8
    assert store.run(run.id).status == "finished"


def test_devices_on_the_command_line(tmp_path: Path, monkeypatch, fake) -> None:
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["run", LINEAR, "--devices", "cuda:0", "--device", "cpu"])
    assert res.exit_code == 2 and "--devices names GPUs" in res.output
    # A host with no GPU (CUDA absent as well): the line is about --devices, not about CUDA.
    monkeypatch.setattr("kernelswarm.backends.available", lambda device: device == "cpu")
    monkeypatch.setattr(devices_module, "host_gpus", lambda: [])
    for command in (["run", LINEAR], ["optimize", LINEAR]):
        res = runner.invoke(app, [*command, "--devices", "all"])
        assert res.exit_code == 2 and res.output.strip() == (
            "kernelswarm: --devices: no GPU is visible on this machine (nvidia-smi lists none)"), res.output
    monkeypatch.setattr("kernelswarm.backends.available", lambda device: True)
    res = runner.invoke(app, ["run", LINEAR, "--devices", "all"])
    assert res.exit_code == 2 and "no GPU is visible" in res.output and "Traceback" not in res.output
    monkeypatch.setattr(devices_module, "host_gpus", lambda: visible_gpus(ROWS, None))
    res = runner.invoke(app, ["run", LINEAR, "--devices", "all"])
    assert res.exit_code == 2 and "one GPU model" in res.output
    res = runner.invoke(app, ["run", LINEAR, "--devices", "cuda:0,cuda:1", "--agents", "compile", "--db", "k.db"])
    assert res.exit_code == 0, res.output
    assert "on cuda:" in res.output and "[" + os.uname().nodename in res.output
    run = Store("k.db").list_runs()[0]
    assert run.config["devices"] == ["cuda:0", "cuda:1"] and run.status == "finished"


def test_when_no_slot_can_time_any_more_the_run_stops_resumable(tmp_path: Path) -> None:
    def dying(problem, source, options):
        raise NowhereToTime("every Ray actor was lost")  # as the pool says once its last actor is gone

    store = Store(tmp_path / "k.db")
    config = RunConfig(device="cpu", agents=["compile"])
    agents = builtin_agents(["compile"])
    with pytest.raises(NowhereToTime):
        run_placed(store, config, agents, [Slot("a", dying, fake_baselines, no_screen)], _problems(4))
    [run] = store.list_runs()
    run_id = run.id
    assert run.status == "running"  # stopped, not finished
    assert sum(r.verdict is not None for r in store.candidates(run_id)) == 0  # nothing stored for the lost work
    run_placed(store, config, agents, [Slot("b", fake_evaluate, fake_baselines, no_screen)], [], run_id=run_id)
    rows = store.candidates(run_id)
    assert len(rows) == 4 and all(r.verdict == "accepted" for r in rows)
    assert store.run(run_id).status == "finished"


def test_ray_on_the_command_line_with_a_stand_in_pool(tmp_path: Path, monkeypatch, fake) -> None:
    """The CLI's wiring of --ray (the pool itself runs Ray in test_ray.py)."""
    import kernelswarm.scale.ray_pool as ray_pool
    from kernelswarm.locks import LockWait

    class Pool:
        def __init__(self, device, jobs, cpu_threads=None, on_note=None, count=None):
            self.actors, self.lost = [0, 1], []
            self.places = [{"host": "node7", "device_index": None}] * 2

        label = ray_pool.ActorPool.label

        def call(self, i, method, *args, **kw):
            if method == "evaluate":
                ev = fake_evaluate(*args)
                ev.host = "node7"
                return ev
            if method == "screen":
                return []
            return fake_baselines(*args, **kw), LockWait()  # the actor's answer: timings, its lock wait

        def shutdown(self):
            pass

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(ray_pool, "import_ray", lambda: None)
    monkeypatch.setattr(ray_pool, "connect", lambda address, **kw: None)
    monkeypatch.setattr(ray_pool, "ActorPool", Pool)
    res = runner.invoke(app, ["run", LINEAR, "--device", "cpu", "--ray", "local", "--agents", "compile,compile-freezing"])
    assert res.exit_code == 0, res.output
    assert "ray actor 1 (node7) ready" in res.output and "[node7]" in res.output
    run = Store("kernelswarm.db").list_runs()[0]
    assert run.config["ray"] == "local" and run.status == "finished"


def test_a_short_run_is_shared_evenly_even_with_many_jobs(tmp_path: Path) -> None:
    """With --jobs 8 each slot has 8 problems in flight; the first slot to start must not take all 6."""
    where: dict[str, str] = {}

    def on(label):
        def evaluate(problem, source, options):
            where[problem.name] = label
            time.sleep(0.3)
            return fake_evaluate(problem, source, options)
        return evaluate

    store = Store(tmp_path / "k.db")
    config = RunConfig(device="cuda", jobs=8, agents=["compile"])
    slots = [Slot(k, on(k), fake_baselines, no_screen) for k in ("a", "b")]
    run_placed(store, config, builtin_agents(["compile"]), slots, _problems(6))
    assert sorted(where.values()).count("a") == 3, where
