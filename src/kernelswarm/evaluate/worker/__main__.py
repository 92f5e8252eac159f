"""`python -m kernelswarm.evaluate.worker ROLE READ_FD WRITE_FD`: one worker process (main.py)."""

from kernelswarm.evaluate.worker.base import Worker  # noqa: F401  (the class every worker is built on)
from kernelswarm.evaluate.worker.main import main

if __name__ == "__main__":
    main()
