"""kernelswarm: a swarm of agents that writes faster, verified kernels for PyTorch modules."""

__version__ = "0.1.0"
