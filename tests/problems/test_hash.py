"""A problem's identity: its code, not its comments or formatting."""

from kernelswarm.problems.load import load_problem, problem_hash
from kernelswarm.problems.suite import bundled_dir

SOURCE = '''
import torch
import torch.nn as nn

n = 16


class Model(nn.Module):
    def forward(self, x):
        return torch.relu(x)


def get_inputs():
    return [torch.randn(n)]
'''


def test_hash_ignores_comments_whitespace_and_docstrings():
    noisy = '"""A docstring."""\n# a comment\n' + SOURCE.replace("torch.relu(x)", "torch.relu( x )  # why") + "\n\n\n"
    noisy = noisy.replace("class Model(nn.Module):\n", 'class Model(nn.Module):\n    """Doc."""\n\n')
    assert problem_hash(noisy) == problem_hash(SOURCE)


def test_hash_changes_with_code_and_sizes():
    assert problem_hash(SOURCE.replace("relu", "gelu")) != problem_hash(SOURCE)
    assert problem_hash(SOURCE.replace("n = 16", "n = 17")) != problem_hash(SOURCE)


def test_bundled_hash_is_stable_across_loads(tmp_path):
    path = bundled_dir() / "level1" / "softmax.py"
    copy = tmp_path / "softmax.py"
    copy.write_text("# copied\n" + path.read_text().replace("    ", "    ", 1))
    assert load_problem(path).hash == load_problem(copy).hash
