"""`cgan-gen`'s plain calls, read without typer (`gen_plain`), held to the typer definition (`gen.cgan_gen`):
whatever argument list `plain_request` reads, typer reads as the same request of the same mode."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st

from cgan_runtime.commands import gen
from cgan_runtime.commands.gen_labels import LabelsRequest
from cgan_runtime.commands.gen_plain import OPTIONS, plain_request

from support import TINY_MODEL

FIELDS = {field.name for field in fields(LabelsRequest)}
FLAGS = [option for option, (_, read) in OPTIONS.items() if read is None]
VALUED = [option for option, (_, read) in OPTIONS.items() if read is not None]
# Values typer takes and values it refuses (out of range, not a number, an unknown provider) or takes oddly.
VALUES = ["0", "1", "7", "007", "-1", "+2", "1_0", " 3", str(2**53 - 1), str(2**53), "", "x.png", "-", "3,7", "cat",
          "auto", "cpu", "gpu", "--grid"]
# What is not the plain mode's: another mode, help, `--option=VALUE`, a stray word.
OTHERS = ["--info", "--mix", "--frames", "--help", "--seed=1", "--", "-n1", "stray"]
words = st.one_of(
    st.sampled_from(FLAGS).map(lambda flag: [flag]),
    st.tuples(st.sampled_from(VALUED), st.sampled_from(VALUES)).map(list),
    st.sampled_from(VALUED).map(lambda option: [option]),  # at the end: no value
    st.sampled_from(OTHERS).map(lambda other: [other]),
)
argvs = st.lists(words, max_size=6).map(lambda groups: [word for group in groups for word in group])


def read_by_typer(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> LabelsRequest:
    """The request typer's command hands the plain mode for `argv`; fails if it refuses `argv` or picks another mode."""
    taken: list[LabelsRequest] = []
    monkeypatch.setattr(gen, "draw_labels", taken.append)
    gen.app(argv, prog_name="cgan-gen", standalone_mode=False)
    assert len(taken) == 1, f"typer did not run the plain mode for {argv}"
    return taken[0]


def test_the_plain_options_are_typer_s_options_of_the_same_fields():
    command = typer.main.get_command(gen.app)
    typer_options = {opt: param.name for param in command.params if param.name in FIELDS for opt in param.opts}
    assert typer_options == {opt: field for opt, (field, _) in OPTIONS.items()}
    assert set(typer_options.values()) == FIELDS


def test_the_plain_readers_take_typer_s_ranges():
    for param in typer.main.get_command(gen.app).params:
        minimum, maximum = getattr(param.type, "min", None), getattr(param.type, "max", None)
        for option in set(param.opts) & set(OPTIONS):
            read = OPTIONS[option][1]
            for bound, outside in ((minimum, -1), (maximum, 1)):
                if bound is not None:
                    assert read(str(bound)) == bound
                    if bound + outside >= 0:  # below 0 is not a number written in digits at all
                        with pytest.raises(ValueError):
                            read(str(bound + outside))


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--label", "5", "-o", "x.png"],
        ["-l", "0,7", "--label", "cat", "-n", "3", "--grid", "--scale", "2", "--seed", "0", "--threads", "1"],
        ["--all-labels", "--output", "-", "--model", str(TINY_MODEL), "--provider", "cpu", "--count", "2"],
        ["-o", "--grid", "-o", "last.png", "--seed", "007"],  # an option's value may look like an option; the last wins
    ],
)
def test_everyday_calls_are_read_here_as_typer_reads_them(argv, monkeypatch):
    request = plain_request(argv)
    assert request is not None
    assert request == read_by_typer(argv, monkeypatch)


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--version"], ["--info"], ["--label=5"], ["-n3"], ["--seed", "-1"], ["--count", "0"],
     ["--provider", "gpu"], ["--label"], ["--threads", "1_0"], ["--label", "5", "stray"], ["--", "--label", "5"]],
)
def test_anything_else_is_left_to_typer(argv):
    assert plain_request(argv) is None


@settings(max_examples=200, deadline=None, database=None)
@given(argv=argvs)
def test_any_argument_list_read_here_is_read_alike_by_typer(argv):
    request = plain_request(argv)
    if request is not None:
        with pytest.MonkeyPatch.context() as monkeypatch:
            assert request == read_by_typer(argv, monkeypatch)


def test_a_plain_call_starts_without_typer(tmp_path):
    code = ("import sys; from cgan_runtime.commands.launch import gen; gen(); "
            "print(sorted({'typer', 'cgan_runtime.commands.gen'} & set(sys.modules)))")
    argv = ["--label", "3", "-o", "three.png", "--seed", "1", "--model", str(TINY_MODEL)]
    result = subprocess.run([sys.executable, "-c", code, *argv], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (
        0, "[]\n", "cgan-gen: wrote three.png (seed 1, CPUExecutionProvider)\n")
