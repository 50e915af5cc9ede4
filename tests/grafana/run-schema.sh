#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make check: every Grafana dashboard (graphs/grafana/dashboards/*.json)
# against the JSON schema generated from npm's @grafana/schema types (the
# classic `Dashboard` type of raw/dashboard/x, and the timeseries and table
# panel types), with planted errors that must be rejected (validate.js).
# The npm packages are those pinned in package.json / package-lock.json,
# installed with `npm ci` into the build tree (tests/grafana/node_modules,
# ignored by git). No node/npm, or no npm registry: exit 99 (a hard error,
# never a pass).
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
src=$top_srcdir/tests/grafana
work=$top_builddir/tests/grafana
"$src/npm-ci.sh" "$work" || exit 99
nm=$work/node_modules
gen=$nm/.bin/ts-json-schema-generator
raw=$nm/@grafana/schema/dist/types/raw
echo "@grafana/schema $(node -p "require('$nm/@grafana/schema/package.json').version"), ts-json-schema-generator $(node -p "require('$nm/ts-json-schema-generator/package.json').version"), ajv $(node -p "require('$nm/ajv/package.json').version")"
out=$work/schema
mkdir -p "$out"
"$gen" --path "$raw/dashboard/x/types.gen.d.ts" --type Dashboard --no-type-check \
  -o "$out/dashboard.schema.json" || { echo "ERROR: schema generation failed"; exit 99; }
for t in timeseries table; do
  for k in Options FieldConfig; do
    "$gen" --path "$raw/composable/$t/panelcfg/x/types.gen.d.ts" --type "$k" --no-type-check \
      -o "$out/$t-$k.schema.json" || { echo "ERROR: schema generation failed ($t $k)"; exit 99; }
  done
done
node -e '
const fs = require("fs"), d = process.argv[1], o = {};
for (const t of ["timeseries", "table"]) {
  o[t] = {};
  for (const k of ["Options", "FieldConfig"]) o[t][k] = JSON.parse(fs.readFileSync(`${d}/${t}-${k}.schema.json`));
}
fs.writeFileSync(`${d}/panels.schema.json`, JSON.stringify(o));' "$out" || exit 99
cd "$work" && NODE_PATH=$nm exec node "$src/validate.js" "$out/dashboard.schema.json" "$out/panels.schema.json" \
  "$top_srcdir"/graphs/grafana/dashboards/*.json
