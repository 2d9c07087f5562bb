"""Every command's --help in one style: a usage line of bare names, each option with help text and a metavar
of one kind, each default in typer's brackets."""

from __future__ import annotations

import re
from importlib import import_module

import pytest
import typer

from cgan_runtime.commands.errors import run_app

COMMANDS = {  # the console script, and the module and typer app behind it
    "cgan-gen": ("cgan_runtime.commands.gen", "app"),
    "cgan-serve": ("cgan_runtime.commands.serve", "app"),
    "cgan-train": ("cgan_train.cli", "train_app"),
    "cgan-eval": ("cgan_train.cli", "eval_app"),
    "cgan-export": ("cgan_export.cli", "app"),
}
# A metavar names what the value is (N, PATH, LABEL[,LABEL...], NAME|PATH) or lists the choices (auto|cpu|cuda).
METAVAR = re.compile(r"[^a-z]+|[a-z0-9]+(\|[a-z0-9]+)+")


def app_of(prog: str) -> typer.Typer:
    module, name = COMMANDS[prog]
    if module.startswith(("cgan_train", "cgan_export")):
        pytest.importorskip("torch")
    return getattr(import_module(module), name)


@pytest.mark.parametrize("prog", COMMANDS)
def test_every_option_has_help_a_metavar_of_one_style_and_no_default_in_its_prose(prog):
    command = typer.main.get_command(app_of(prog))
    for param in command.params:
        assert param.help, f"{prog} {param.name} has no help"
        assert not re.search(r"\(default|default:", param.help, re.IGNORECASE), (
            f"{prog} {param.name}: a default goes in show_default, shown as [default: ...]")
        if not getattr(param, "is_flag", False):
            assert param.metavar and METAVAR.fullmatch(param.metavar), f"{prog} {param.name}: metavar {param.metavar!r}"


@pytest.mark.parametrize("prog", COMMANDS)
def test_the_usage_line_names_options_and_arguments_bare(prog, run_cli):
    app = app_of(prog)
    result = run_cli(lambda: run_app(app, prog), prog, "--help")
    assert result.exit_code == 0
    usage = result.stdout.decode().splitlines()[0]
    assert re.fullmatch(rf"Usage: {prog} \[OPTIONS\]( [A-Z]+)*", usage), usage
