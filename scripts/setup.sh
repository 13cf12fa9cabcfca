#!/usr/bin/env bash
# One-time setup on a fresh machine: a virtual environment in .venv with the project and every
# dependency (the tested versions: constraints.txt), and FER2013 linked into data/01_raw when
# ../shared/datasets/fer2013.zip is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "DeepFER needs Python 3.11 or newer; $PYTHON is $("$PYTHON" --version 2>&1 || echo missing)." >&2
  echo "Run again with PYTHON=python3.11 (or newer): PYTHON=python3.12 bash scripts/setup.sh" >&2
  exit 1
fi
if [ -x .venv/bin/python ] && ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "Replacing .venv: it was made with $(.venv/bin/python --version 2>&1), and 3.11+ is needed." >&2
  rm -rf .venv
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The versions CI tested (constraints.txt); where they cannot install (another Python or platform
# without those wheels), the newest versions pyproject.toml allows, said loudly.
if [ "${DEEPFER_UNPINNED:-0}" = 1 ]; then
  .venv/bin/python -m pip install -q -e ".[test]"
elif ! .venv/bin/python -m pip install -q -c constraints.txt -e ".[test]"; then
  echo "The tested versions in constraints.txt do not install with $(.venv/bin/python --version) on" \
       "$(uname -s) $(uname -m); installing the newest versions pyproject.toml allows instead (untested)." >&2
  .venv/bin/python -m pip install -q -e ".[test]"
fi
shared_zip=../shared/datasets/fer2013.zip
if [ -z "$(find data/01_raw -mindepth 1 ! -name .gitkeep -print -quit)" ]; then
  if [ -f "$shared_zip" ]; then
    ln -s ../../"$shared_zip" data/01_raw/fer2013.zip
    echo "Linked $shared_zip into data/01_raw/"
  else
    echo "No FER2013 data yet: put the Kaggle archive fer2013.zip (or fer2013.csv) in data/01_raw/ before" \
         "'kedro run' (see README, 'The data'). 'deepfer predict' works without it (shipped model)." >&2
  fi
fi
echo "Setup done: activate with 'source .venv/bin/activate'."
