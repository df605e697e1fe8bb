#!/usr/bin/env bash
# Installs the Debian packages huike needs to build, run and test (Node.js and npm for the web
# console, Chromium and a CJK font for its browser tests).
# A no-op when everything is present; uses sudo when not run as root.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git ca-certificates tzdata
  libmicrohttpd-dev libjansson-dev libsqlite3-dev sqlite3
  libpq-dev postgresql postgresql-contrib
  libsodium-dev libcurl4-openssl-dev libcmocka-dev libxlsxwriter-dev libxxhash-dev
  clang-format curl unzip
  chromium fonts-wqy-microhei
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js and npm build the web console; any install will do (Debian's, or NodeSource's nodejs
# which bundles npm), so they are looked for as commands rather than as Debian packages.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The postgresql package would create and start a system cluster; huike's tests run their own
# throw-away cluster, so keep the system one from starting where policy-rc.d allows.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
