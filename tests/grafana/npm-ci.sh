#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# npm-ci.sh WORKDIR: installs the npm packages pinned in this directory's
# package.json / package-lock.json into WORKDIR/node_modules with `npm ci`
# (skipped when WORKDIR already holds exactly this lock). Exit 0 when
# installed; 99, with the reason, when node/npm are missing or the npm
# registry cannot be reached (a test must then fail, never pass).
set -u
src=$(cd "$(dirname "$0")" && pwd)
work=$1
for c in node npm; do
  if ! command -v "$c" >/dev/null 2>&1; then
    echo "ERROR: $c is missing (Debian: nodejs npm; tools/install-deps.sh installs them)"
    exit 99
  fi
done
mkdir -p "$work" || exit 99
# one npm ci at a time per build tree (make -j runs the npm-based tests together)
exec 9>"$work/.npm-ci.lock"
flock 9 || exit 99
if [ "$(cd "$work" && pwd)" != "$src" ]; then
  cp "$src/package.json" "$src/package-lock.json" "$work/" || exit 99
fi
stamp=$work/node_modules/.vacmon-lock
if ! cmp -s "$src/package-lock.json" "$stamp" 2>/dev/null; then
  echo "npm ci (pinned: $(cd "$src" && node -p 'Object.entries(require("./package.json").dependencies).map(([k,v])=>k+"@"+v).join(" ")'))"
  if ! (cd "$work" && npm ci --no-audit --no-fund --loglevel=error); then
    echo "ERROR: npm ci failed (is the npm registry reachable?): nothing was checked"
    exit 99
  fi
  cp "$src/package-lock.json" "$stamp"
fi
exit 0
