"""The trusted side's reads and writes in a candidate's folder (evaluate/parent/own_files.py): no
link a candidate made there is followed, nothing but a plain file is read, never more than asked
(adv13: cheat/log_link, candidates_steps/link_out; profile.py reads its worker's answer so)."""

from __future__ import annotations

import os

from kernelswarm.evaluate.parent.own_files import copy_into, read_head, read_tail


def test_links_fifos_and_devices_are_not_read(tmp_path):
    (tmp_path / "env").symlink_to("/proc/self/environ")
    (tmp_path / "zero").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "fifo")  # a read would block without a writer
    for name in ("env", "zero", "fifo", "absent"):
        assert read_tail(tmp_path / name, 100) == b""
        assert read_head(tmp_path / name, 100) is None
    assert read_tail("/dev/zero", 100) == b"" and read_head("/dev/zero", 100) is None


def test_plain_files_are_read_within_the_limit(tmp_path):
    f = tmp_path / "log"
    f.write_bytes(b"a" * 1000 + b"the end")
    assert read_tail(f, 7) == b"the end" and len(read_tail(f, 10**6)) == 1007
    assert read_head(f, 10) == b"a" * 11  # one byte more: too large
    assert read_head(f, 10**6) == b"a" * 1000 + b"the end"


def test_a_copy_replaces_a_link_instead_of_writing_through_it(tmp_path):
    victim = tmp_path / "users_file"
    victim.write_text("the user's own file\n")
    folder = tmp_path / "candidate"
    folder.mkdir()
    (folder / "user_weights.pt").symlink_to(victim)
    src = tmp_path / "weights"
    src.write_bytes(b"weights")
    copy_into(src, folder / "user_weights.pt")
    assert victim.read_text() == "the user's own file\n"
    assert not (folder / "user_weights.pt").is_symlink() and (folder / "user_weights.pt").read_bytes() == b"weights"
