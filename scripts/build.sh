#!/bin/sh
# `npm run build`: compiles src/ into dist/ (tsc, type-checked; tests and test helpers left out),
# then bundles the service's entry, dist/main.js, with its dependencies into that one file.
# Node then loads one module at start instead of several hundred, which halves the CPU time a
# start costs (`npm run bench:startup`). tigerbeetle-node stays a package: it loads a native
# binary. dist/cli.js and dist/migrate.js stay unbundled: their start-up does not matter.
# Run it through npm, which puts tsc and esbuild on PATH.
set -eu
cd "$(dirname "$0")/.."

rm -rf dist
mkdir dist
# Dated before compiling, so a source saved during the build still counts as newer.
touch dist/.build-started
tsc -p tsconfig.build.json
# The bundle is ESM; `require` is defined for the CommonJS dependencies it inlines (ioredis,
# prom-client, pino) that require Node's built-in modules.
esbuild dist/main.js --bundle --platform=node --format=esm --target=node20 \
  --external:tigerbeetle-node --allow-overwrite --outfile=dist/main.js --log-level=warning \
  --banner:js="import { createRequire as createRequireForBundle } from 'node:module'; const require = createRequireForBundle(import.meta.url);"
rm -f dist/main.js.map
mv dist/.build-started dist/.build-stamp
