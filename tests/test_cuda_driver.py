"""The driver's version for reported figures, read without starting NVML (backends/cuda.py)."""

from kernelswarm.backends.cuda import driver_in_line


def test_driver_version_from_the_kernel_modules_line():
    assert driver_in_line("NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  Tue Oct 28 2025") == "580.159.04"
    assert driver_in_line("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.15  Release Build  "
                          "(dvs-builder@U16)  Thu Feb 22 2024") == "550.54.15"
    assert driver_in_line("") == ""
    assert driver_in_line("no version here") == ""
