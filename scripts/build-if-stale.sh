#!/bin/sh
# Runs `npm run build` unless dist/ is newer than everything it is compiled from, so
# `npm start` and `npm run migrate` run current code without paying for a compile each time.
# `npm run build` leaves dist/.build-stamp, dated from when that compile started; any source,
# tsconfig, the lock file or the build script changed since (a deleted file changes its
# directory's date) is newer.
set -eu
cd "$(dirname "$0")/.."

# An installation that ships only dist/ (no sources) has nothing to rebuild from.
if [ ! -d src ]; then
  exit 0
fi
stamp=dist/.build-stamp
if [ -f "$stamp" ] &&
  [ -z "$(find src tsconfig.json tsconfig.build.json package-lock.json scripts/build.sh -newer "$stamp" -print | head -n 1)" ]; then
  exit 0
fi
echo "dist/ is missing or older than the sources: building" >&2
exec npm run --silent build
