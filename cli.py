"""Harvest's command line: `python cli.py COMMAND ...`, or `harvest COMMAND ...` once installed.

Thin by design: each command parses its options, builds a config, calls one library function and
prints a summary. Errors become one line on stderr: exit 1 for failures, 2 for usage errors.
Heavy libraries (TensorFlow, Selenium) are imported inside the commands that need them.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Annotated

import typer
from typer.main import get_command

try:  # typer >= 0.26 vendors click; the pinned typer does
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer with click installed
    from click import exceptions as click_exceptions
from rich.markup import escape

from workspace import __version__, console
from workspace.errors import HarvestError


# Each command module, imported explicitly but only when called (a command module pulls in its
# package: the crawler's, say, is not what curate needs).
def workspace_commands() -> ModuleType:
    from workspace import commands
    return commands


def runs_commands() -> ModuleType:
    from workspace import runs_commands
    return runs_commands


def doctor_commands() -> ModuleType:
    from workspace import doctor_commands
    return doctor_commands


def crawler_commands() -> ModuleType:
    from crawler import commands
    return commands


def replica_commands() -> ModuleType:
    from replica import commands
    return commands


def curation_commands() -> ModuleType:
    from curation import commands
    return commands


def report_commands() -> ModuleType:
    from curation import report_commands
    return report_commands


def training_commands() -> ModuleType:
    from training import commands
    return commands


def selftrain_commands() -> ModuleType:
    from selftrain import commands
    return commands


def demo_commands() -> ModuleType:
    from demo import commands
    return commands


# The commands each module registers (through its `register(app)`), in the order of
# `harvest --help`. A run imports only the module of the command it runs; help, completion and
# unknown commands import them all. tests/workspace/test_cli.py checks this table.
COMMAND_MODULES: dict[Callable[[], ModuleType], tuple[str, ...]] = {
    workspace_commands: ("init", "import", "status", "export"),
    runs_commands: ("runs",),
    doctor_commands: ("doctor",),
    crawler_commands: ("crawl", "jobs"),
    replica_commands: ("replica",),
    curation_commands: ("curate", "dedupe"),
    report_commands: ("report",),
    training_commands: ("train", "evaluate", "predict"),
    selftrain_commands: ("self-train", "pseudo-label"),
    demo_commands: ("demo",),
}
_registered: set[Callable[[], ModuleType]] = set()

app = typer.Typer(
    name="harvest",
    help="Harvest: class names in, a clean split image dataset and a trained classifier out.",
    no_args_is_help=True,
    add_completion=True,  # `harvest --install-completion`
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def show_version(value: bool) -> None:
    if value:
        print(f"harvest {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show debug logs and tracebacks.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors; for scripts.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=show_version, is_eager=True,
                                          help="Print Harvest's version and exit.")] = False,
) -> None:
    """Harvest: class names in, a clean split image dataset and a trained classifier out."""
    console.configure_logging(debug=debug, quiet=quiet)


def register_commands(command: str | None = None) -> None:
    """Register the module of `command`, or every module (None, or a name no module has)."""
    owners = [load for load, names in COMMAND_MODULES.items() if command in names] or list(COMMAND_MODULES)
    for load in owners:
        if load not in _registered:
            load().register(app)
            _registered.add(load)


def command_named(argv: list[str]) -> str | None:
    """The command `argv` runs (its first word that is not an option; the global options take
    no value), or None for shell completion, which lists every command."""
    if any(name.endswith("_COMPLETE") for name in os.environ):
        return None
    return next((arg for arg in argv if not arg.startswith("-")), None)


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
GLOBAL_FLAGS = ("--quiet", "-q", "--debug")


def error_line(message: str) -> None:
    """One red line on stderr; the message is shown literally (it may hold web-sourced text, or a
    library's terminal colours, which are dropped)."""
    console.err.print(f"[red]error:[/red] {escape(' '.join(ANSI.sub('', message).split()))}", markup=True)


def global_flags_first(argv: list[str]) -> list[str]:
    """`harvest curate W --quiet` means `harvest --quiet curate W`: the global flags are moved in
    front of the command (up to a `--`, after which everything is an argument)."""
    end = argv.index("--") if "--" in argv else len(argv)
    flags = [a for a in argv[:end] if a in GLOBAL_FLAGS]
    return flags + [a for a in argv[:end] if a not in GLOBAL_FLAGS] + argv[end:]


def program_name() -> str:
    """`harvest` when run as the installed command (its completion variable is _HARVEST_COMPLETE)."""
    return "harvest" if os.path.basename(sys.argv[0] or "").startswith("harvest") else "cli.py"


def usage_hint(ctx: object) -> str:
    command_path = getattr(ctx, "command_path", "") or ""
    path = command_path.split(" ", 1)[1] if " " in command_path else ""
    program = "harvest" if program_name() == "harvest" else "python cli.py"
    return f"`{program} {path + ' ' if path else ''}--help`"


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code, turning every failure into one line."""
    argv = global_flags_first(list(sys.argv[1:] if argv is None else argv))
    debug = "--debug" in argv or os.environ.get("HARVEST_DEBUG") == "1"
    register_commands(command_named(argv))
    command = get_command(app)
    try:
        result = command.main(args=argv, prog_name=program_name(), standalone_mode=False)
        return result if isinstance(result, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except click_exceptions.NoArgsIsHelpError as exc:
        console.out.print(exc.ctx.get_help() if exc.ctx else str(exc), markup=False)
        return 0
    except click_exceptions.UsageError as exc:
        error_line(f"{exc.format_message()} (see {usage_hint(exc.ctx)})")
        return 2
    except (typer.Abort, KeyboardInterrupt):
        console.err.print("[red]interrupted[/red]", markup=True)
        return 130
    except HarvestError as exc:
        if debug:
            console.err.print_exception()
        error_line(str(exc))
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never a bare traceback
        if debug:
            console.err.print_exception()
        error_line(f"unexpected {type(exc).__name__}: {exc} (run with --debug for details)")
        return 1


if __name__ == "__main__":
    sys.exit(run())
