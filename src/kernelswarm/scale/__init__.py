"""Scale-out: a sweep spread over shards (batch schedulers), over every GPU of a host, or over a
Ray cluster. Each form keeps the supervisor as the only writer of the store; what runs on a device
is the evaluator as it is. `import ray` happens only in `kernelswarm.scale.ray_pool`."""
