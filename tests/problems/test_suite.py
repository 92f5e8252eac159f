"""The bundled suite's shape, and resolving problems from files, folders, checkouts and globs."""

import re
import shutil
from pathlib import Path

from kernelswarm.problems.suite import (
    SUITES, NoMatch, bundled_dir, error_parts, load_folder, quick_subset, resolve_problems,
)


def test_bundled_suite_has_enough_problems_per_level():
    problems, errors = load_folder(bundled_dir())
    assert errors == []
    per_level = {n: [p for p in problems if p.level == n] for n in (1, 2, 3)}
    assert len(per_level[1]) >= 30
    assert len(per_level[2]) >= 30
    assert len(per_level[3]) >= 12
    assert len({p.name for p in problems}) == len(problems), "names must be unique across levels"
    assert len({p.hash for p in problems}) == len(problems)


def test_bundled_names_are_snake_case_and_have_a_cpu_preset():
    problems, _ = resolve_problems([], suite="bundled")
    for p in problems:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", p.name), p.name
        assert "cpu" in p.sizes and p.sizes["cpu"], f"{p.name} has no CPU size preset"


def test_suites_and_bundled_dir():
    assert SUITES == ("bundled", "train")
    assert (bundled_dir() / "level1").is_dir()
    assert (bundled_dir() / "train" / "level1").is_dir()


def test_training_suite_is_apart_from_the_default_one():
    """Issue 17: suite/train/levelN is not part of the bundled suite; --suite train or a 'train/'
    prefix names it, and a name glob without the prefix never reaches it."""
    default, _ = resolve_problems([])
    train, errors = resolve_problems([], suite="train")
    assert errors == [] and train and not ({p.path for p in default} & {p.path for p in train})
    assert [p.name for p in resolve_problems(["train/rms_norm_train"])[0]] == ["rms_norm_train"]
    assert {p.name for p in resolve_problems(["*_train"], suite="train")[0]} == {p.name for p in train}
    assert resolve_problems(["rms_norm_train"])[0] == []  # not in the bundled suite
    assert {p.level for p in resolve_problems([], suite="train", level=3)[0]} == {3}


def test_level_filter_and_globs():
    level2, errors = resolve_problems([], suite="bundled", level=2)
    assert errors == [] and level2 and all(p.level == 2 for p in level2)
    matmuls, _ = resolve_problems(["matmul_*"])
    assert {"matmul_square", "matmul_batched", "matvec"} - {p.name for p in matmuls} == {"matvec"}
    assert all(p.name.startswith("matmul_") for p in matmuls)
    only_l1, _ = resolve_problems(["matmul_*"], level=1)
    assert only_l1 and all(p.level == 1 for p in only_l1)
    qualified, _ = resolve_problems(["level3/*"])
    assert qualified and all(p.level == 3 for p in qualified)
    by_file_name, _ = resolve_problems(["relu.py"])
    assert [p.name for p in by_file_name] == ["relu"]


def test_duplicates_are_dropped():
    problems, _ = resolve_problems(["relu", "rel*", "level1/relu"])
    assert [p.name for p in problems] == ["relu"]


def test_unknown_names_paths_and_suites_are_errors_not_exceptions():
    problems, errors = resolve_problems(["relu", "xyz", "missing/dir/problem.py"])
    assert [p.name for p in problems] == ["relu"]
    assert all(isinstance(e, NoMatch) for e in errors)
    assert "no problem matches 'xyz'" in str(errors[0])
    assert error_parts(errors[1]) == ("missing/dir/problem.py", "no such file, and no bundled problem of that name")
    _, errors = resolve_problems([], suite="nope")
    assert isinstance(errors[0], NoMatch)


def test_single_files_and_bad_files(fixtures):
    problems, errors = resolve_problems([str(fixtures / "folder/level1/relu.py"), str(fixtures / "bad")])
    assert [p.name for p in problems] == ["relu", "inverse_of_batch", "raises"] and problems[0].level == 1
    reasons = {Path(error_parts(e)[0]).name: error_parts(e)[1] for e in errors}
    assert "syntax error" in reasons["syntax_error.py"]
    assert "no `Model`" in reasons["no_model.py"]
    assert "raises.py" not in reasons  # it loads; it only fails when run (screening reports that)
    assert "inverse_of_batch.py" not in reasons  # it loads; only structured inputs make it raise


def test_folder_with_levels_skips_bad_files(fixtures):
    problems, errors = load_folder(fixtures / "folder")
    assert sorted((p.level, p.name) for p in problems) == [(1, "relu"), (2, "linear_relu")]
    assert len(errors) == 1 and error_parts(errors[0])[0].endswith("broken.py")
    level1, errors = load_folder(fixtures / "folder", level=1)
    assert [p.name for p in level1] == ["relu"] and errors == []


def test_kernelbench_checkout_layout(tmp_path, fixtures):
    level1 = tmp_path / "KernelBench" / "level1"
    level1.mkdir(parents=True)
    shutil.copy(fixtures / "folder/level1/relu.py", level1 / "19_ReLU.py")
    (tmp_path / "KernelBench" / "level1" / "__init__.py").write_text("")
    problems, errors = load_folder(tmp_path)
    assert [(p.name, p.level) for p in problems] == [("19_ReLU", 1)] and errors == []
    problems, errors = resolve_problems([str(tmp_path)], level=1)
    assert len(problems) == 1


def test_flat_folder(tmp_path, fixtures):
    shutil.copy(fixtures / "folder/level1/relu.py", tmp_path / "a.py")
    problems, errors = load_folder(tmp_path)
    assert [(p.name, p.level) for p in problems] == [("a", None)] and errors == []
    empty = tmp_path / "empty"
    empty.mkdir()
    problems, errors = resolve_problems([str(empty)])
    assert problems == [] and isinstance(errors[0], NoMatch)


def test_quick_subset_spans_levels():
    subset = quick_subset("cpu")
    assert 3 <= len(subset) <= 6 and 4 <= len(quick_subset("cuda")) <= 6
    assert {p.level for p in subset} == {1, 2, 3}
    assert {p.name for p in subset} <= {p.name for p in quick_subset("cuda")}


def test_quoted_path_glob(fixtures):
    problems, errors = resolve_problems([str(fixtures / "degenerate" / "*.py")])
    assert len(problems) >= 6 and errors == []
    assert all(p.path.parent.name == "degenerate" for p in problems)


def test_a_file_and_a_bundled_name_together(fixtures):
    """`kernelswarm run mine.py softmax` once raised TypeError: the file's result and the bundled
    suite's cache shared one variable."""
    problems, errors = resolve_problems([str(fixtures / "folder/level1/relu.py"), "softmax"])
    assert [p.name for p in problems] == ["relu", "softmax"] and errors == []
