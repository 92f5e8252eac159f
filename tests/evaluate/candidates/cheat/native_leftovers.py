# kernelswarm-test: problem=relu_linear verdict=accepted|rejected forks slow timeout=600
# What ipc_left and keyring_stash do, from a C++ extension: nothing here is a name the static
# screen bans (native code is allowed, and it can make every system call), so only the kernel's
# own containment can stop it. Leaves a System V shared memory segment, message queue and
# semaphore set keyed by the test's tag, and a key in the user's keyring: none may outlive the
# evaluation (test_fixtures looks for them by key and name).
import os
import zlib

import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

TAG = os.environ.get("KERNELSWARM_TEST_TAG", "none")
_src = r"""
#include <torch/extension.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cstring>
#include <string>
int64_t leave(int64_t key, std::string tag) {
    int64_t made = 0;
    int id = shmget((key_t)key, 4 << 20, IPC_CREAT | 0666);
    if (id >= 0) { void* p = shmat(id, nullptr, 0); if (p != (void*)-1) { memset(p, 0x5a, 4 << 20); shmdt(p); } made += 1; }
    if (msgget((key_t)key, IPC_CREAT | 0666) >= 0) made += 2;
    if (semget((key_t)key, 4, IPC_CREAT | 0666) >= 0) made += 4;
    std::string name = "ks-escape-" + tag; const char* v = "stolen";
    if (syscall(SYS_add_key, "user", name.c_str(), v, 6, -4) >= 0) made += 8;
    return made;
}
"""
_ext = load_inline(name="ks_native_leftovers", cpp_sources=_src, functions=["leave"], extra_cflags=["-O1"])
_done = []


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        if not _done:
            _done.append(_ext.leave(zlib.crc32(TAG.encode()) & 0x7FFFFFFF, TAG))
        return torch.relu(self.lin(x))
