#!/usr/bin/env bash
# One-time setup on a fresh machine: a virtual environment in .venv with the project and every
# dependency, and FER2013 linked into data/01_raw when ../shared/datasets/fer2013.zip is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
shared_zip=../shared/datasets/fer2013.zip
if [ -z "$(find data/01_raw -mindepth 1 ! -name .gitkeep -print -quit)" ] && [ -f "$shared_zip" ]; then
  ln -s ../../"$shared_zip" data/01_raw/fer2013.zip
  echo "Linked $shared_zip into data/01_raw/"
fi
echo "Setup done: activate with 'source .venv/bin/activate'."
