"""One table lists every `tenor` command: the wings' cli.py files define functions, register nothing."""

from __future__ import annotations

import ast
import inspect

from typer.models import ArgumentInfo, OptionInfo

from tests.test_imports import _modules

WING_CLIS = ("assistant.cli", "evaluation.cli", "finetune.cli", "ingest.cli", "tenor.quickstart")


def _is_command(function) -> bool:
    return any(isinstance(p.default, (OptionInfo, ArgumentInfo))
               for p in inspect.signature(function).parameters.values())


def test_every_command_function_is_in_the_table():
    import importlib

    from tenor.cli import COMMANDS

    listed = {function for _, _, function in COMMANDS}
    defined = {f"{module}.{name}" for module in WING_CLIS
               for name, function in vars(importlib.import_module(module)).items()
               if inspect.isfunction(function) and function.__module__ == module and _is_command(function)}
    assert defined == {f"{f.__module__}.{f.__name__}" for f in listed}


def test_only_the_cli_module_registers_commands():
    registering = set()
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
                    node.func.attr in ("add_typer", "Typer")
                    or node.func.attr == "command" and node.args and isinstance(node.args[0], ast.Constant)):
                registering.add(name)  # typer.Typer(...), app.add_typer(...), app.command("name")
    assert registering == {"tenor.cli"}


def test_the_command_line_shows_every_table_entry():
    from typer.testing import CliRunner

    from tenor.cli import COMMANDS, GROUPS, app

    runner = CliRunner()
    top = runner.invoke(app, ["--help"]).output
    assert all(name in top for group, name, _ in COMMANDS if group is None)
    for group in GROUPS:
        shown = runner.invoke(app, [group, "--help"]).output
        assert all(name in shown for g, name, _ in COMMANDS if g == group)
