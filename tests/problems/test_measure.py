"""FLOPs, minimum bytes and shapes."""

from kernelswarm.problems.measure import measure
from kernelswarm.problems.suite import resolve_problems


def _one(name):
    problems, _ = resolve_problems([name])
    return problems[0]


def test_matmul_counts_at_cpu_preset():
    m = measure(_one("matmul_square"), "cpu", time_it=False)
    n = 512
    assert m.preset == "cpu" and m.input_shapes == [[n, n], [n, n]] and m.output_shapes == [[n, n]]
    assert m.flops == 2 * n ** 3
    assert m.min_bytes == 3 * n * n * 4
    assert m.eager is None and m.error == ""


def test_parameters_count_towards_bytes():
    m = measure(_one("linear_relu"), "cpu", time_it=False)
    batch, features = m.input_shapes[0]
    out = m.output_shapes[0][1]
    assert m.min_bytes == 4 * (batch * features + features * out + out + batch * out)


def test_without_device_counts_the_written_sizes_on_meta():
    m = measure(_one("matmul_square"))
    assert m.device == "meta" and m.preset == "" and m.input_shapes == [[4096, 4096], [4096, 4096]]
    assert m.flops == 2 * 4096 ** 3


def test_every_bundled_problem_counts_on_meta():
    problems, _ = resolve_problems([])
    for p in problems:
        m = measure(p)
        assert m.error == "", (p.name, m.error)
        assert m.min_bytes and m.min_bytes > 0
        if p.level in (2, 3):
            assert m.flops and m.flops > 0, p.name


def test_rnn_flops_fall_back_to_meta_on_a_real_device():
    m = measure(_one("lstm"), "cpu", time_it=False)
    assert m.flops and m.flops > 0


def test_eager_time_is_measured():
    m = measure(_one("relu"), "cpu")
    assert m.eager is not None and m.eager.n >= 10 and m.eager.median_ms > 0


def test_problem_that_cannot_run_on_meta_is_counted_at_its_cpu_preset(tmp_path):
    from kernelswarm.problems.load import load_problem
    from kernelswarm.problems.screen import screen

    path = tmp_path / "data_dependent.py"
    path.write_text(
        "import torch\nimport torch.nn as nn\n\nn = 1 << 20\nKERNELSWARM_SIZES = {'cpu': {'n': 1024}}\n\n"
        "class Model(nn.Module):\n    def forward(self, x):\n        return x * (1.0 + float(x.abs().max().item()))\n\n"
        "def get_inputs():\n    return [torch.randn(n)]\n"
    )
    m = measure(load_problem(path))
    assert m.error == "" and m.device == "cpu" and m.input_shapes == [[1024]]
    result = screen(load_problem(path), "cpu", time_it=False)
    assert result.ok, result.reasons
