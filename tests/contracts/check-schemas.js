#!/usr/bin/env node
// check-schemas.js: every JSON Schema of schemas/events and schemas/outbound
// compiles with Ajv (draft 2020-12, strict: an unknown keyword or format is
// an error). With --inputs FILE (input CloudEvents, one JSON object a line,
// as `loyaltyctl produce --stdout | cut -f3` prints them), each must also be
// valid against schemas/events/<type>.json. Prints what it checked; exits 1
// on the first failure.
'use strict';

const fs = require('fs');
const path = require('path');
const { newAjv, compileAll, describeErrors } = require('./contracts');

function die(msg) {
  console.error(`check-schemas: ${msg}`);
  process.exit(1);
}

let ajv, compiled;
try {
  ajv = newAjv();
  compiled = compileAll(ajv);
} catch (e) {
  die(e.message);
}
for (const c of compiled) console.log(`compiled ${path.relative(process.cwd(), c.file)}`);
console.log(`schemas: ${compiled.length} compiled`);

const i = process.argv.indexOf('--inputs');
if (i > 0) {
  const file = process.argv[i + 1];
  if (!file) die('--inputs needs a file');
  const counts = {};
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, n) => {
    if (!line.trim()) return;
    const ev = JSON.parse(line);
    const validate = ajv.getSchema(`https://loyaltyd.example/schemas/events/${ev.type}.json`);
    if (!validate) die(`${file}:${n + 1}: no schema for type ${JSON.stringify(ev.type)}`);
    if (!validate(ev)) die(`${file}:${n + 1}: ${ev.type} ${ev.id}: ${describeErrors(validate.errors)}`);
    counts[ev.type] = (counts[ev.type] || 0) + 1;
  });
  for (const t of Object.keys(counts).sort()) console.log(`input ${t}: ${counts[t]} valid`);
  if (Object.keys(counts).length === 0) die(`${file}: no events`);
}
