// SPDX-License-Identifier: MIT
// Runs a table panel's transformations over Graphite render JSON with
// Grafana's own transformer code (npm @grafana/data: reduce,
// groupingToMatrix, organize, sortBy, ...) and prints the resulting table
// as JSON: {"columns": [...], "rows": [[...], ...]}.
//
//   node tables.js PANEL.json RENDER.json
//
// PANEL.json: the panel (its transformations); RENDER.json: a list of
// {"refId", "series": graphite-web /render?format=json output}. The frames
// are built as Grafana's Graphite datasource builds them (one frame per
// series: a time field and a value field named by the series).
// extractFields lives in Grafana's app code, not in @grafana/data: it is
// stood in for here by the key+value parse ("a=b c=d" -> fields a, c) of
// the strings this project's targets produce, added as new string fields
// after the source field (replace: false), as Grafana's extractFields does.
'use strict';
require('./grafana-shim.js'); // @grafana/data expects a browser

const fs = require('fs');
const d = require('@grafana/data');
const {firstValueFrom} = require('rxjs');

// Data frames as Grafana's Graphite datasource builds them; returns a list.
function frames(render) {
  const out = [];
  for (const {refId, series} of render) {
    for (const s of series) {
      out.push(d.toDataFrame({
        name: s.target, refId,
        fields: [
          {name: 'Time', type: d.FieldType.time, values: s.datapoints.map((p) => p[1] * 1000)},
          {name: 'Value', type: d.FieldType.number, values: s.datapoints.map((p) => p[0]),
            config: {displayNameFromDS: s.target}},
        ],
      }));
    }
  }
  return out;
}

const extractKvp = {
  id: 'extractFields', name: 'Extract fields (key+value pairs, stand-in)',
  operator: (options) => (source) => source.pipe(require('rxjs').map((data) => data.map((frame) => {
    const src = frame.fields.find((f) => f.name === options.source);
    if (!src || options.format !== 'kvp') throw new Error('stand-in handles format kvp only');
    const keys = [], vals = {};
    src.values.forEach((v, i) => {
      for (const kv of String(v).split(/[\s,]+/)) {
        const m = /^([^=:]+)[=:](.*)$/.exec(kv);
        if (!m) continue;
        if (!(m[1] in vals)) { keys.push(m[1]); vals[m[1]] = new Array(src.values.length).fill(undefined); }
        vals[m[1]][i] = m[2];
      }
    });
    const added = keys.map((k) => ({name: k, type: d.FieldType.string, config: {}, values: vals[k]}));
    return {...frame, fields: options.replace ? added : [...frame.fields, ...added]};
  }))),
};

// Runs the panel's transformations; prints the single resulting table.
async function main(panelFile, renderFile) {
  const panel = JSON.parse(fs.readFileSync(panelFile, 'utf8'));
  const render = JSON.parse(fs.readFileSync(renderFile, 'utf8'));
  const seen = new Set();
  const items = Object.values(d.standardTransformers).filter((t) => !seen.has(t.id) && seen.add(t.id))
    .map((t) => ({id: t.id, name: t.name, transformation: t}));
  items.push({id: extractKvp.id, name: extractKvp.name, transformation: extractKvp});
  d.standardTransformersRegistry.setInit(() => items);
  const out = await firstValueFrom(d.transformDataFrame(panel.transformations, frames(render)));
  if (out.length !== 1) throw new Error(`expected one table, got ${out.length} frames`);
  const f = out[0];
  const columns = f.fields.map((x) => d.getFieldDisplayName(x, f, out));
  const rows = [];
  for (let i = 0; i < f.length; i++) rows.push(f.fields.map((x) => x.values[i] ?? null));
  process.stdout.write(JSON.stringify({columns, rows}) + '\n');
}

main(process.argv[2], process.argv[3]).catch((e) => { console.error(e.stack || e); process.exit(1); });
