#!/usr/bin/env bash
# Run the whole test suite on a fresh machine with only Python 3.11+ and pip.
# The venv never sees the base interpreter's packages: what the tests need is installed into it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
die() { echo "scripts/test.sh: $*" >&2; exit 1; }

"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  || die "$PY is not Python 3.11 or newer; set PYTHON=/path/to/python3.11"
if [ ! -x .venv/bin/python ]; then
  rm -rf .venv
  if ! "$PY" -m venv .venv 2>/dev/null; then
    # Debian/Ubuntu without python3-venv: no ensurepip. Make the venv without pip, then let the
    # base interpreter's pip install pip into it.
    rm -rf .venv
    "$PY" -m venv --without-pip .venv \
      || die "$PY cannot create a virtual environment; install python3-venv (apt install python3-venv)"
    "$PY" -m pip --version >/dev/null 2>&1 \
      || die "$PY has neither ensurepip nor pip; install python3-venv or python3-pip"
    "$PY" -m pip --python .venv/bin/python install --quiet pip \
      || die "could not install pip into .venv; install python3-venv (apt install python3-venv)"
  fi
fi
grep -qi '^include-system-site-packages *= *false' .venv/pyvenv.cfg \
  || die ".venv can see the base interpreter's packages; remove .venv and run again"
VPY=.venv/bin/python
"$VPY" -m pip install --quiet --upgrade pip
"$VPY" -m pip install --quiet -e ".[test]"
for plugin in plugins_example/*/; do
  [ -f "$plugin/pyproject.toml" ] && "$VPY" -m pip install --quiet -e "$plugin"
done
# the browser tests (tests/emulator_ui) need Chromium: Debian's package when apt-get can install it,
# else the build Playwright downloads; the suite skips nothing on a fresh machine
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
      || "$VPY" -m playwright install chromium
  else
    "$VPY" -m playwright install chromium
  fi
fi
# benchmarks/instructions.py counts instructions under valgrind (tests/benchmarks/test_instructions.py)
if ! command -v valgrind >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get install -y -qq valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; } \
    || echo "scripts/test.sh: could not install valgrind; tests/benchmarks/test_instructions.py will fail (install valgrind)" >&2
fi
echo "== ruff"
"$VPY" -m ruff check framework tests plugins_example benchmarks examples
"$VPY" -m ruff format --check framework tests plugins_example benchmarks examples
echo "== mypy --strict"
"$VPY" -m mypy framework
echo "== pytest"
"$VPY" -m pytest -q "$@"
