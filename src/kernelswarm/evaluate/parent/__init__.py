"""The evaluator's side: judging, the timing protocol, baselines, process control, the device
lock and the static screen. Nothing here runs in a worker process."""
