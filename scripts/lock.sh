#!/usr/bin/env bash
# Rewrite constraints.txt from a clean install of pyproject.toml's newest allowed versions; run it
# after changing dependencies, then run the tests on the new pins before committing them.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
"$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e ".[test]"
{
  grep '^#' constraints.txt | grep -v '^# Made on '
  echo "# Made on $(date -u +%F), $("$venv/bin/python" --version), $(uname -s) $(uname -m)."
  "$venv/bin/python" -m pip freeze --exclude-editable
} > constraints.txt.new
mv constraints.txt.new constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) pins"
