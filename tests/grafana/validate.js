// SPDX-License-Identifier: MIT
// Validates Grafana dashboard JSON files against the JSON schema generated
// (ts-json-schema-generator) from @grafana/schema's `Dashboard` type, and
// panel options / custom field config against the timeseries and table panel
// types. Plants errors in a copy of the first dashboard and asserts that the
// validation rejects each of them.
//
//   node validate.js DASHBOARD.schema.json PANELS.schema.json FILE.json...
//
// Strictness: the generated schemas have additionalProperties: false on every
// object type, so a misspelt or unknown key fails. The only keys added are
// those Grafana itself writes but the CUE-generated types leave out (ALLOWED
// below). Prints one line per check; exit 0 when all pass, 1 otherwise.
'use strict';
const fs = require('fs');
const path = require('path');
const Ajv = require('ajv');

// Keys Grafana writes into classic dashboard JSON that the Dashboard type
// does not declare. Each with the shape Grafana gives it.
const ALLOWED = {
  // UI export / import ("Export for sharing externally"): the inputs the
  // import form asks for, and the plugins it checks for.
  Dashboard: {
    __inputs: {type: 'array', items: {type: 'object', additionalProperties: false,
      required: ['name', 'type', 'pluginId'],
      properties: {name: {type: 'string'}, label: {type: 'string'},
        description: {type: 'string'}, type: {enum: ['datasource', 'constant']},
        pluginId: {type: 'string'}, pluginName: {type: 'string'}, value: {type: 'string'}}}},
    __requires: {type: 'array', items: {type: 'object', additionalProperties: false,
      required: ['type', 'id', 'name', 'version'],
      properties: {type: {enum: ['grafana', 'datasource', 'panel', 'app']},
        id: {type: 'string'}, name: {type: 'string'}, version: {type: 'string'}}}},
    __elements: {type: 'object'},
  },
  // Variable models of Grafana's variable editor: a query variable's
  // `definition`, an interval variable's auto / auto_count / auto_min.
  VariableModel: {
    definition: {type: 'string'},
    auto: {type: 'boolean'},
    auto_count: {type: 'integer', minimum: 1},
    auto_min: {type: 'string'},
  },
};

// The generated schema with the ALLOWED keys added; returns the schema.
function loadSchema(file) {
  const s = JSON.parse(fs.readFileSync(file, 'utf8'));
  for (const [def, props] of Object.entries(ALLOWED)) {
    if (s.definitions && s.definitions[def]) Object.assign(s.definitions[def].properties, props);
  }
  return s;
}

let passed = 0, failed = 0;
// Prints and counts one check; returns ok.
function check(name, ok, detail) {
  console.log((ok ? 'PASS ' : 'FAIL ') + name + (ok || detail === undefined ? '' : ': ' + detail));
  if (ok) passed++; else failed++;
  return ok;
}
// The first ajv errors of a validator, as one line.
function errs(v) {
  return JSON.stringify((v.errors || []).slice(0, 4).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`));
}

function main(argv) {
  const [dashSchemaFile, panelSchemaFile, ...files] = argv;
  const ajv = new Ajv({allErrors: true, strict: false});
  const dashSchema = loadSchema(dashSchemaFile);
  const validate = ajv.compile(dashSchema);
  // panel plugin types: {timeseries: {Options, FieldConfig}, table: {...}}
  const panelSchemas = JSON.parse(fs.readFileSync(panelSchemaFile, 'utf8'));
  const panelValidators = {};
  for (const [type, kinds] of Object.entries(panelSchemas)) {
    panelValidators[type] = {};
    for (const [kind, schema] of Object.entries(kinds)) {
      panelValidators[type][kind] = new Ajv({allErrors: true, strict: false}).compile(schema);
    }
  }
  function validatePanels(dash) {
    const bad = [];
    for (const p of dash.panels || []) {
      const v = panelValidators[p.type];
      if (!v) { bad.push(`${p.title}: no schema for panel type ${p.type}`); continue; }
      if (!v.Options(p.options || {})) bad.push(`${p.title}: options ${errs(v.Options)}`);
      const custom = ((p.fieldConfig || {}).defaults || {}).custom || {};
      if (!v.FieldConfig(custom)) bad.push(`${p.title}: fieldConfig.defaults.custom ${errs(v.FieldConfig)}`);
    }
    return bad;
  }

  let first = null, panels = 0;
  for (const f of files) {
    const dash = JSON.parse(fs.readFileSync(f, 'utf8'));
    first = first || dash;
    const n = (dash.panels || []).length;
    panels += n;
    check(`${path.basename(f)}: Dashboard schema (${n} panels)`, validate(dash), errs(validate));
    const bad = validatePanels(dash);
    check(`${path.basename(f)}: panel options and custom field config (timeseries, table types)`,
      bad.length === 0, JSON.stringify(bad.slice(0, 3)));
  }
  check(`${files.length} dashboards, ${panels} panels validated`, files.length > 0 && panels > 0);

  // Planted errors: each must be rejected, at the path where it was planted.
  const qv = first.templating.list.findIndex((v) => v.type === 'query');
  const plants = [
    ['a panel with gridPos as a string', (d) => { d.panels[0].gridPos = '0,0,12,9'; }, '/panels/0'],
    ['a query variable with current: {}', (d) => { d.templating.list[qv].current = {}; }, `/templating/list/${qv}`],
    ['a query variable with allValue: null', (d) => { d.templating.list[qv].allValue = null; }, `/templating/list/${qv}`],
    ['timepicker.time_options (not in the schema)', (d) => { d.timepicker.time_options = ['1h']; }, '/timepicker'],
    ['a dashboard link without its required fields', (d) => { d.links = [{title: 'x', type: 'link', url: '/'}]; }, '/links/0'],
    ['schemaVersion missing', (d) => { delete d.schemaVersion; }, ''],
  ];
  check('the unmodified first dashboard passes (so a failure below is the plant)', validate(first), errs(validate));
  for (const [what, plant, at] of plants) {
    const d = JSON.parse(JSON.stringify(first));
    plant(d);
    const ok = validate(d);
    const where = (validate.errors || []).some((e) => e.instancePath.startsWith(at));
    check(`planted error rejected: ${what} (at ${at || '/'})`, !ok && where,
      ok ? 'validation passed' : errs(validate));
  }
  // A planted panel-options error (legend displayMode not in the enum).
  const d = JSON.parse(JSON.stringify(first));
  const ts = d.panels.find((p) => p.type === 'timeseries');
  ts.options.legend.displayMode = 'grid';
  check('planted error rejected: timeseries legend.displayMode "grid"', validatePanels(d).length === 1);

  grafanaLogic(files);
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

// What Grafana's own code (npm @grafana/data, the version of the minimum
// Grafana) makes of the dashboards: the auto bucket of each time preset,
// and which series the drill-down link matchers select.
const AUTO_BUCKET = {'now-1h': '5m', 'now-2h': '5m', 'now-4h': '10m', 'now-1d': '1h',
  'now-1w': '6h', 'now-4w': '1d', 'now-1y': '7d'};  // Grafana 10.4, 20 buckets, >= 5m
const OVERLAYS = ['Max processors', 'Known factories', 'Running processors'];
const DRILL = ['UKI-NORTHGRID-MAN-HEP', 'vac01_example_ac_uk', 'space1', 'Max processors 2'];

// Checks, with @grafana/data, the auto bucket of every preset and the
// series each drill-down link matcher selects; returns nothing.
function grafanaLogic(files) {
  require('./grafana-shim.js');
  const d = require('@grafana/data');
  const version = require('@grafana/data/package.json').version;
  for (const f of files) {
    const dash = JSON.parse(fs.readFileSync(f, 'utf8'));
    const name = path.basename(f);
    const b = dash.templating.list.find((v) => v.name === 'bucket');
    const got = {};
    for (const q of dash.timepicker.quick_ranges) {
      const range = {from: d.dateMath.parse(q.from), to: d.dateMath.parse(q.to), raw: q};
      got[q.from] = d.rangeUtil.calculateInterval(range, b.auto_count, b.auto_min).interval;
    }
    check(`${name}: auto bucket per preset (@grafana/data ${version} calculateInterval): ` +
      Object.entries(got).map(([k, v]) => `${k.slice(4)} ${v}`).join(', '),
    JSON.stringify(got) === JSON.stringify(AUTO_BUCKET), JSON.stringify(got));
    const frame = (n) => d.toDataFrame({name: n, fields: [{name: 'Value', type: 'number',
      values: [1], config: {displayNameFromDS: n}}]});
    const onAll = dash.panels.filter((x) => ((x.fieldConfig || {}).defaults || {}).links?.length)
      .map((x) => x.title);
    check(`${name}: no panel links every series (fieldConfig.defaults.links)`, onAll.length === 0,
      JSON.stringify(onAll));
    for (const p of dash.panels.filter((x) => x.type === 'timeseries')) {
      for (const o of p.fieldConfig.overrides) {
        if (!o.properties.some((pr) => pr.id === 'links')) continue;
        const m = d.fieldMatchers.get(o.matcher.id).get(o.matcher.options);
        const sel = (n) => { const fr = frame(n); return m(fr.fields[0], fr, [fr]); };
        const own = p.targets.slice(1).map((t) => /,'([^']*)'\)$/.exec(t.target)[1]);
        const wrong = OVERLAYS.concat(own).filter(sel).concat(DRILL.filter((n) => !sel(n)).map((n) => 'not ' + n));
        check(`${name}: ${p.title}: link only on its series (Grafana's ${o.matcher.id} matcher)`,
          wrong.length === 0, JSON.stringify(wrong));
      }
    }
  }
}

process.exitCode = main(process.argv.slice(2));
