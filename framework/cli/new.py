"""``qqbot new``: create a bot project from the cookiecutter template that ships with the framework.

The template is looked up at ``framework/_scaffold`` (where the wheel puts it) and then at the
checkout's ``cookiecutter-template/`` (editable installs), so no network access is needed.
cookiecutter itself comes with the ``new`` extra: ``pip install 'qqbot-framework[new]'``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["ScaffoldError", "add_parser", "parse_assignments", "run", "template_dir", "template_options"]

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
_MISSING_COOKIECUTTER = "qqbot new: cookiecutter is not installed; install it with: pip install 'qqbot-framework[new]'"


class ScaffoldError(Exception):
    """A problem with the ``qqbot new`` arguments, reported to the user as one line."""


def template_dir(package_dir: Path = _PACKAGE_DIR) -> Path:
    """The bundled template directory (the one holding ``cookiecutter.json``).

    ``package_dir`` is the ``framework`` package directory; the template is ``_scaffold`` inside it
    (wheels) or ``cookiecutter-template`` beside it (a checkout installed in editable mode).
    """
    candidates = (package_dir / "_scaffold", package_dir.parent / "cookiecutter-template")
    for candidate in candidates:
        if (candidate / "cookiecutter.json").is_file():
            return candidate
    raise ScaffoldError(
        f"the project template is missing from this installation (looked in {candidates[0]} and {candidates[1]})"
    )


def template_options(template: Path) -> dict[str, Any]:
    """The template's answerable options and their defaults (``cookiecutter.json`` without private keys)."""
    with (template / "cookiecutter.json").open(encoding="utf-8") as file:
        raw: dict[str, Any] = json.load(file)
    return {key: value for key, value in raw.items() if not key.startswith("_")}


def parse_assignments(items: list[str], options: dict[str, Any]) -> dict[str, str]:
    """Turn ``key=value`` arguments into cookiecutter's extra context, checking the keys.

    A relative ``framework_path`` is made absolute (the generated ``pyproject.toml`` needs a file URL).
    """
    context: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ScaffoldError(f"expected key=value, got {item!r}")
        if key not in options:
            raise ScaffoldError(f"unknown option {key!r}; the options are: {', '.join(options)}")
        if key == "framework_path" and value:
            value = str(Path(value).expanduser().resolve())
        context[key] = value
    return context


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``new`` subcommand to the ``qqbot`` parser (dispatch to :func:`run`)."""
    parser = subparsers.add_parser(
        "new",
        help="create a new bot project from the bundled template",
        description="Create a bot project (bot module, tests, CI, README) from the template shipped with "
        "qqbot-framework. Options not given as key=value are asked for, unless --no-input is set. "
        "Options: bot_name, package_name, project_slug, description, scene_guild, scene_group, scene_c2c, "
        "scene_dm (yes/no), transport (websocket|webhook), webhook_port, include_plugin (yes/no), "
        "event_bus (none|redis), redis_url, framework_path.",
        epilog="example: qqbot new --no-input bot_name='Weather Bot' transport=webhook scene_dm=yes",
    )
    parser.add_argument("assignments", nargs="*", metavar="key=value", help="template options, e.g. bot_name=Echo")
    parser.add_argument("--no-input", action="store_true", help="do not prompt; use the defaults for the rest")
    parser.add_argument("-o", "--output-dir", default=".", help="where to create the project (default: .)")
    parser.add_argument(
        "-f", "--overwrite-if-exists", action="store_true", help="write into the project directory if it exists"
    )
    parser.add_argument("--template", default=None, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    """Render the template; print where the project is and what to do next. Returns the exit code."""
    try:
        main_module = importlib.import_module("cookiecutter.main")
        exceptions = importlib.import_module("cookiecutter.exceptions")
    except ImportError:
        print(_MISSING_COOKIECUTTER, file=sys.stderr)
        return 1
    try:
        template = Path(args.template) if args.template else template_dir()
        extra_context = parse_assignments(list(args.assignments), template_options(template))
    except (ScaffoldError, OSError, ValueError) as exc:
        print(f"qqbot new: error: {exc}", file=sys.stderr)
        return 2
    try:
        with _quiet_cookiecutter_logs():
            project = main_module.cookiecutter(
                str(template),
                no_input=bool(args.no_input),
                extra_context=extra_context,
                output_dir=str(args.output_dir),
                overwrite_if_exists=bool(args.overwrite_if_exists),
            )
    except exceptions.FailedHookException:
        # the pre-generation hook has already printed what is wrong
        print("qqbot new: no project created: fix the options above and try again", file=sys.stderr)
        return 1
    except exceptions.OutputDirExistsException as exc:
        message = str(exc).removeprefix("Error: ")
        print(f"qqbot new: error: {message}; pass --overwrite-if-exists to write into it", file=sys.stderr)
        return 1
    except (exceptions.CookiecutterException, ValueError) as exc:
        print(f"qqbot new: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nqqbot new: aborted", file=sys.stderr)
        return 130
    _print_next_steps(Path(str(project)))
    return 0


@contextlib.contextmanager
def _quiet_cookiecutter_logs() -> Iterator[None]:
    """Keep cookiecutter's tracebacks for failed hooks off the terminal: the hook prints the reason itself."""
    logger = logging.getLogger("cookiecutter")
    handler = logging.NullHandler()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _print_next_steps(project: Path) -> None:
    packages = sorted(path.parent.name for path in (project / "src").glob("*/__init__.py"))
    package = packages[0] if packages else "<package>"
    print(f"Created {project}")
    print("Next:")
    print(f"  cd {project}")
    print('  pip install -e ".[dev]"')
    print(f"  pytest                          # talk to {package}.bot:bot through the platform emulator")
