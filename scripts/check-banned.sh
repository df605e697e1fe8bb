#!/usr/bin/env bash
# Fails (exit 1) when a banned C function is called anywhere in src/ or tests/ (.c and .h files),
# listing each file:line. Banned: sprintf vsprintf strcpy strcat atoi atol strtok gets — use
# snprintf, hk_strlcpy, hk_strbuf, hk_parse_int64 and friends (src/core/util.h, strbuf.h).
# Matching is word-bounded, so snprintf, vsnprintf, strtok_r and fgets are fine.
#
# Usage: check-banned.sh [ROOT]   (ROOT defaults to the repository holding this script)
set -euo pipefail

root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
pattern='(^|[^A-Za-z0-9_])(sprintf|vsprintf|strcpy|strcat|atoi|atol|strtok|gets)[[:space:]]*\('

dirs=()
for d in src tests; do
  [ -d "$root/$d" ] && dirs+=("$root/$d")
done
if [ ${#dirs[@]} -eq 0 ]; then
  echo "check-banned: no src/ or tests/ under $root" >&2
  exit 2
fi

hits=$(grep -rnE --include='*.c' --include='*.h' "$pattern" "${dirs[@]}" || true)
if [ -n "$hits" ]; then
  echo "check-banned: banned functions used (see scripts/check-banned.sh for replacements):" >&2
  printf '%s\n' "$hits" | sed "s|^$root/||" >&2
  exit 1
fi
echo "check-banned: ok"
