"""``qqbot new``: create a bot project from the cookiecutter template that ships with the framework.

The template is looked up at ``framework/_scaffold`` (where the wheel puts it) and then at the
checkout's ``cookiecutter-template/`` (editable installs), so no network access is needed.
cookiecutter itself comes with the ``new`` extra: ``pip install 'qqbot-framework[new]'``.

The generated project depends on the framework ``qqbot new`` runs from, because qqbot-framework is not
on the package index yet: a checkout is referenced by path, an installed wheel is repacked into the
project's ``vendor/`` directory (``framework_path=`` with an empty value asks for the published package).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import importlib
import importlib.metadata
import json
import logging
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from framework.errors import QQBotError

__all__ = [
    "ScaffoldError",
    "add_parser",
    "framework_checkout",
    "parse_assignments",
    "repack_installed_wheel",
    "run",
    "template_dir",
    "template_options",
]

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
_MISSING_COOKIECUTTER = "qqbot new: cookiecutter is not installed; install it with: pip install 'qqbot-framework[new]'"


class ScaffoldError(QQBotError):
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


def framework_checkout(package_dir: Path = _PACKAGE_DIR) -> Path | None:
    """The source checkout the ``framework`` package is imported from, or None for an installed wheel."""
    root = package_dir.parent
    if (package_dir / "_scaffold").exists() or not (root / "cookiecutter-template" / "cookiecutter.json").is_file():
        return None
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file() or 'name = "qqbot-framework"' not in pyproject.read_text(encoding="utf-8"):
        return None
    return root


_DROPPED_METADATA = {"INSTALLER", "REQUESTED", "RECORD", "direct_url.json"}


def repack_installed_wheel(dest_dir: Path, package_dir: Path = _PACKAGE_DIR) -> Path:
    """Write the installed qqbot-framework distribution back into a wheel in ``dest_dir``; return its path.

    The files come from the distribution's ``RECORD`` (the package and its ``.dist-info``, without
    compiled files, installer markers or scripts outside site-packages); a new ``RECORD`` is written.
    """
    try:
        dist = importlib.metadata.distribution("qqbot-framework")
    except importlib.metadata.PackageNotFoundError as exc:
        raise ScaffoldError("qqbot-framework is not installed as a distribution; pass framework_path=...") from exc
    files = dist.files or []
    if Path(str(dist.locate_file("framework/__init__.py"))).resolve().parent != package_dir.resolve():
        raise ScaffoldError(
            f"the installed qqbot-framework is not the one running from {package_dir}; pass framework_path=..."
        )
    info = next((f.parts[0] for f in files if f.parts and f.parts[0].endswith(".dist-info")), None)
    if info is None:
        raise ScaffoldError("the installed qqbot-framework has no .dist-info; pass framework_path=...")
    name = f"qqbot_framework-{dist.version}-py3-none-any.whl"
    dest_dir.mkdir(parents=True, exist_ok=True)
    wheel = dest_dir / name
    record: list[str] = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(files, key=str):
            parts = file.parts
            if not parts or parts[0] == ".." or "__pycache__" in parts or file.suffix == ".pyc":
                continue
            if parts[0] == info and parts[-1] in _DROPPED_METADATA:
                continue
            data = Path(str(dist.locate_file(file))).read_bytes()
            arcname = "/".join(parts)
            archive.writestr(arcname, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{arcname},sha256={digest},{len(data)}")
        record.append(f"{info}/RECORD,,")
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel


def template_options(template: Path) -> dict[str, Any]:
    """The template's answerable options and their defaults (``cookiecutter.json`` without private keys)."""
    with (template / "cookiecutter.json").open(encoding="utf-8") as file:
        raw: dict[str, Any] = json.load(file)
    return {key: value for key, value in raw.items() if not key.startswith("_")}


def parse_assignments(items: list[str], options: dict[str, Any]) -> dict[str, str]:
    """Turn ``key=value`` arguments into cookiecutter's extra context, checking the keys.

    A relative ``framework_path`` is made absolute (the generated ``pyproject.toml`` needs a file URL);
    an empty one stays empty (depend on the published package).
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
        "event_bus (none|redis), redis_url, framework_path. The project depends on the framework this command "
        "runs from (a checkout by path; an installed wheel is copied into the project's vendor/ directory); "
        "framework_path= (empty) depends on the published package instead.",
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
        with _quiet_cookiecutter_logs(), tempfile.TemporaryDirectory(prefix="qqbot-new-") as scratch:
            if "framework_path" in template_options(template) and "framework_path" not in extra_context:
                extra_context["framework_path"] = _this_framework(Path(scratch))
            project = main_module.cookiecutter(
                str(template),
                no_input=bool(args.no_input),
                extra_context=extra_context,
                output_dir=str(args.output_dir),
                overwrite_if_exists=bool(args.overwrite_if_exists),
            )
    except ScaffoldError as exc:
        print(f"qqbot new: error: {exc}", file=sys.stderr)
        return 1
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


def _this_framework(scratch: Path) -> str:
    """``framework_path`` for the framework running this command: its checkout, or a repacked wheel."""
    checkout = framework_checkout()
    if checkout is not None:
        return str(checkout)
    return str(repack_installed_wheel(scratch))


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
    print("Next (in a virtual environment):")
    print(f"  cd {project}")
    print('  pip install -e ".[dev]"         # see "Where the framework comes from" in its README')
    print(f"  pytest                          # talk to {package}.bot:bot through the platform emulator")
