"""The README's command synopsis and each command's ``--help`` list the same options.

Both sides are parsed as text: the synopsis from the README's first ``bash`` block under "Command line",
the options from the option column of ``solarkataster CMD --help``. Whether an option is required comes
from the synopsis's brackets on one side and from click's ``[required]`` marker on the other.
"""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from conftest import REPO

from solarkataster.cli import COMMANDS, cli

OPTION = re.compile(r"--[a-z][a-z0-9-]*|(?<![\w-])-[a-z](?![\w-])")


def synopsis():
    """Command name -> list of (option, optional) as the README's synopsis writes them."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Command line", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    entries, current = [], None
    for line in block.splitlines():
        if line.startswith("solarkataster"):
            current = [line]
            entries.append(current)
        elif line.strip():
            assert line.startswith(" ") and current is not None, f"stray synopsis line {line!r}"
            current.append(line)
    commands = {}
    for entry in entries:
        words = " ".join(entry).split()
        name = words[1] if len(words) > 1 and not words[1].startswith(("-", "[")) else ""
        depth, options = 0, []
        for word in words[1:]:
            depth += word.count("[")
            options += [(opt, depth > 0) for opt in OPTION.findall(word)]
            depth -= word.count("]")
        assert depth == 0, f"unbalanced brackets in the synopsis of {name or 'the group'}"
        assert name not in commands, f"{name} appears twice in the synopsis"
        commands[name] = options
    return commands


def help_options(args):
    """Options (long names, and short ones without a long form) and required flags from ``--help``."""
    result = CliRunner().invoke(cli, [*args, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    body = result.output.split("\nOptions:\n", 1)[1].split("\nCommands:", 1)[0]
    options, required = set(), set()
    for line in body.splitlines():
        m = re.match(r"^  (-\S.*?)(?:\s{2,}(.*))?$", line)
        if not m:
            continue
        names = [n for n in OPTION.findall(m.group(1))]
        if "--help" in names:
            continue
        longs = [n for n in names if n.startswith("--")]
        options.update(longs or names)
        if "[required]" in (m.group(2) or ""):
            required.update(longs or names)
    return options, required


@pytest.mark.parametrize("command", sorted(COMMANDS) + [""])
def test_synopsis_lists_every_option_of_the_help(command):
    documented = synopsis()
    assert command in documented, f"README synopsis lacks a line for 'solarkataster {command}'"
    aliases = {"-v": "--verbose"}  # the group's -v | -vv stands for --verbose
    written = [(aliases.get(opt, opt), optional) for opt, optional in documented[command]]
    in_readme = {opt for opt, _ in written}
    in_help, required = help_options([command] if command else [])
    assert in_readme == in_help, (f"'{command}': only in README {sorted(in_readme - in_help)}, "
                                  f"only in --help {sorted(in_help - in_readme)}")
    optional_in_readme = {opt for opt, optional in written if optional}
    assert {o for o in in_help if o not in optional_in_readme} == required, (
        f"'{command}': required options must be the unbracketed ones of the synopsis")


def test_synopsis_has_no_unknown_command():
    assert set(synopsis()) == set(COMMANDS) | {""}
