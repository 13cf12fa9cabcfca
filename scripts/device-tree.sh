#!/usr/bin/env bash
# What travels to the GPU machine (tracked + untracked-not-ignored files + carried paths) may be at
# most 64 MiB. The shipped model files (21.5 MB) are not needed there, but next to the 42 MiB copy of
# the data and the wheels they would push a call over the limit. So, around a device call:
#   bash scripts/device-tree.sh hide      # unstage the shipped model files and ignore them; prints the size
#   (the device call, carrying .whl and .devdata)
#   bash scripts/device-tree.sh restore   # put them back in the index; the files never leave the disk
#   bash scripts/device-tree.sh size      # what would travel now, with .whl and .devdata carried
# Never commit between hide and restore: the commit would delete the shipped model.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
SHIPPED=(src/deepfer_kedro/default_model/deepfer_default.keras src/deepfer_kedro/default_model/fast/deepfer.onnx)
LIMIT=$((64 * 1024 * 1024))
CARRIED=(.whl .devdata)  # as docs/benchmarks.md carries them

size() {
  local tree carried=0
  tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 -r stat -c %s -- 2>/dev/null \
         | awk '{s += $1} END {print s + 0}')
  for path in "${CARRIED[@]}"; do
    [ -e "$path" ] && carried=$((carried + $(du -sb "$path" | cut -f1)))
  done
  local total=$((tree + carried))
  awk -v t="$total" -v r="$tree" -v c="$carried" -v names="${CARRIED[*]}" 'BEGIN {
    printf "travels: %.1f MiB (tree %.1f MiB, carried %s %.1f MiB) of at most 64 MiB\n", t / 2^20, r / 2^20, names, c / 2^20}'
  [ "$total" -le "$LIMIT" ] || { echo "over the limit: run 'bash scripts/device-tree.sh hide' first" >&2; return 1; }
}

case "${1:-}" in
  hide)
    for file in "${SHIPPED[@]}"; do
      [ -f "$file" ] || { echo "$file is missing; nothing to hide" >&2; exit 1; }
      git rm -q --cached --ignore-unmatch -- "$file"
      grep -qxF "/$file" .git/info/exclude 2>/dev/null || echo "/$file" >> .git/info/exclude
    done
    echo "The shipped model files are out of what travels; run 'bash scripts/device-tree.sh restore' after the call."
    size
    ;;
  restore)
    for file in "${SHIPPED[@]}"; do
      [ -f .git/info/exclude ] && sed -i "\#^/${file}\$#d" .git/info/exclude
    done
    git add -- "${SHIPPED[@]}"
    if ! git diff --cached --quiet -- "${SHIPPED[@]}"; then
      echo "The shipped model files differ from the last commit; check 'git diff --cached'." >&2
    fi
    echo "The shipped model files are tracked again."
    ;;
  size) size ;;
  *) echo "usage: bash scripts/device-tree.sh hide|restore|size" >&2; exit 2 ;;
esac
