"""Remove the generated files that belong to options the user switched off; vendor a framework wheel."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

CONTEXT: dict[str, Any] = json.loads({{ cookiecutter | tojson | tojson }})


def unwanted(ctx: dict[str, Any]) -> list[Path]:
    """Paths (relative to the generated project) that the chosen options do not need."""
    package = Path("src") / str(ctx["package_name"])
    paths: list[Path] = []
    if not ctx["include_plugin"]:
        paths += [package / "plugin.py", Path("tests") / "test_plugin.py"]
    if ctx["event_bus"] != "redis":
        paths.append(Path("docker-compose.yml"))
    return paths


def vendor_wheel(ctx: dict[str, Any], root: Path) -> None:
    """Copy a ``framework_path`` wheel into ``vendor/``, where ``pyproject.toml`` refers to it."""
    wheel = Path(str(ctx["framework_path"]))
    if wheel.suffix == ".whl":
        (root / "vendor").mkdir(exist_ok=True)
        shutil.copyfile(wheel, root / "vendor" / wheel.name)


def main() -> int:
    """Delete what :func:`unwanted` lists from the current directory (the generated project)."""
    root = Path.cwd()
    for relative in unwanted(CONTEXT):
        path = root / relative
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    vendor_wheel(CONTEXT, root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
