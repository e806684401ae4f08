#!/usr/bin/env bash
# Run the whole test suite on a fresh machine with only Python 3.11+ and pip.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
"$VPY" -m pip install --quiet --upgrade pip
"$VPY" -m pip install --quiet -e ".[test]"
for plugin in plugins_example/*/; do
  [ -f "$plugin/pyproject.toml" ] && "$VPY" -m pip install --quiet -e "$plugin"
done
echo "== ruff"
"$VPY" -m ruff check framework tests plugins_example benchmarks examples
echo "== mypy --strict"
"$VPY" -m mypy framework
echo "== pytest"
"$VPY" -m pytest -q "$@"
