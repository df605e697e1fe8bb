#!/usr/bin/env bash
# Builds the web console into web/dist (used by `make run`, `make test` and the browser test's
# ctest fixture). npm ci runs only when node_modules is missing or package-lock.json changed
# since the last install; the Vite build only when a source is newer than the last build.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
  echo "web: npm is not installed (run make deps)" >&2
  exit 1
fi
stamp=node_modules/.huike-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "web: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
if [ -f dist/index.html ] && [ -z "$(find src public index.html vite.config.js package-lock.json scripts \
     -newer dist/index.html -print -quit 2>/dev/null)" ]; then
  exit 0 # up to date
fi
echo "web: building the console (vite)"
npm run --silent build
