#!/usr/bin/env bash
# Runs scripts/check-banned.sh on scratch trees: it must pass on safe calls (snprintf, strtok_r,
# fgets, a word merely containing a banned name) and fail, naming file:line, on each banned one.
set -euo pipefail
check="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/src/core" "$tmp/tests"
cat > "$tmp/src/core/ok.c" <<'C'
int f(char *b, unsigned n) { return snprintf(b, n, "x") + vsnprintf(b, n, "y", 0); }
char *g(char *s, char **save) { fgets(s, 4, 0); return strtok_r(s, ",", save); }
int my_strcpy_count;
C
if ! bash "$check" "$tmp" >/dev/null 2>&1; then
  echo "FAIL: safe calls were flagged"; bash "$check" "$tmp" || true; exit 1
fi

n=0
for fn in sprintf vsprintf strcpy strcat atoi atol strtok gets; do
  n=$((n + 1))
  printf 'int x%d(void)\n{\n    return %s (0);\n}\n' "$n" "$fn" > "$tmp/tests/bad_$fn.h"
  if out=$(bash "$check" "$tmp" 2>&1); then
    echo "FAIL: $fn( was not flagged"; exit 1
  fi
  if ! grep -q "tests/bad_$fn.h:3:" <<<"$out"; then
    echo "FAIL: $fn( reported without file:line: $out"; exit 1
  fi
  rm "$tmp/tests/bad_$fn.h"
done
echo "ok: $n banned functions flagged, safe ones not"
