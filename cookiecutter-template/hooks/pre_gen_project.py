"""Validate the answers before cookiecutter renders anything (exit 1 with a clear message)."""

from __future__ import annotations

import json
import keyword
import re
import sys
from pathlib import Path
from typing import Any

CONTEXT: dict[str, Any] = json.loads({{ cookiecutter | tojson | tojson }})

_PACKAGE_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_DIST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_RESERVED = {"framework", "qqbot", "test", "tests", "src"}
_WHEEL_RE = re.compile(r"^qqbot_framework-[0-9][A-Za-z0-9.+!]*-py3-none-any\.whl$")
_SCENES = ("scene_guild", "scene_group", "scene_c2c", "scene_dm")


def _text_problem(label: str, value: str, limit: int = 200) -> str | None:
    """A line of text that is written into TOML and Python string literals."""
    if not value.strip():
        return f"{label} must not be empty."
    if len(value) > limit:
        return f"{label} must be at most {limit} characters."
    if any(ch in value for ch in '"\\') or any(ord(ch) < 32 for ch in value):
        return f"{label} {value!r} must be one line without double quotes or backslashes."
    return None


def _suggest_package(name: str) -> str:
    cleaned = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "bot"
    return f"bot_{cleaned}" if cleaned[0].isdigit() else cleaned


def problems(ctx: dict[str, Any]) -> list[str]:
    """Every reason the answers cannot produce a working project (empty: all good)."""
    found: list[str] = []
    for label, limit in (("bot_name", 50), ("description", 200)):
        problem = _text_problem(label, str(ctx[label]), limit)
        if problem:
            found.append(problem)

    package = str(ctx["package_name"])
    if not package.isidentifier() or not _PACKAGE_RE.match(package):
        found.append(
            f"package_name {package!r} is not a valid Python package name: use lowercase letters, digits "
            f"and underscores, not starting with a digit (for example package_name={_suggest_package(package)})."
        )
    elif len(package) > 40:
        found.append(f"package_name {package!r} is longer than 40 characters; choose a shorter name.")
    elif keyword.iskeyword(package) or keyword.issoftkeyword(package):
        found.append(f"package_name {package!r} is a Python keyword; choose another name.")
    elif package in _RESERVED or package in sys.stdlib_module_names:
        found.append(f"package_name {package!r} would shadow an existing module; choose another name.")

    slug = str(ctx["project_slug"])
    if not _DIST_RE.match(slug):
        found.append(
            f"project_slug {slug!r} is not a valid distribution name: letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit."
        )

    if not any(ctx[scene] for scene in _SCENES):
        found.append("choose at least one scene: scene_guild, scene_group, scene_c2c or scene_dm.")

    transport = str(ctx["transport"])
    if transport not in ("websocket", "webhook"):
        found.append(f"transport {transport!r} must be 'websocket' or 'webhook'.")
    elif transport == "webhook":
        port = str(ctx["webhook_port"])
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            found.append(f"webhook_port {port!r} must be a port number between 1 and 65535.")

    bus = str(ctx["event_bus"])
    if bus not in ("none", "redis"):
        found.append(f"event_bus {bus!r} must be 'none' or 'redis'.")
    elif bus == "redis":
        url = str(ctx["redis_url"])
        if not url.startswith(("redis://", "rediss://", "unix://")) or _text_problem("redis_url", url, 4096):
            found.append(f"redis_url {url!r} must be a redis://, rediss:// or unix:// URL when event_bus is redis.")

    framework_path = str(ctx["framework_path"])
    if framework_path:
        path = Path(framework_path)
        if _text_problem("framework_path", framework_path, 4096) or not path.is_absolute():
            found.append(f"framework_path {framework_path!r} must be an absolute path without quotes.")
        elif path.suffix == ".whl":
            if not _WHEEL_RE.match(path.name) or not path.is_file():
                found.append(
                    f"framework_path {framework_path!r} is not a qqbot-framework wheel "
                    "(expected an existing qqbot_framework-<version>-py3-none-any.whl)."
                )
        elif not (path / "pyproject.toml").is_file():
            found.append(
                f"framework_path {framework_path!r} is neither a qqbot-framework checkout (no pyproject.toml) "
                "nor a .whl file."
            )
    return found


def main() -> int:
    """Print every problem to stderr; exit status 1 if there is any."""
    found = problems(CONTEXT)
    for problem in found:
        print(f"qqbot new: error: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
