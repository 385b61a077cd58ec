// contracts.js: the JSON Schemas of schemas/events (inputs) and
// schemas/outbound (outputs) compiled with Ajv (draft 2020-12), and which
// event types each output topic may carry. Shared by validate-messages.js
// and check-schemas.js.
'use strict';

const fs = require('fs');
const path = require('path');
const Ajv2020 = require('ajv/dist/2020').default;
const addFormats = require('ajv-formats').default;

const SCHEMAS_DIR = path.resolve(__dirname, '..', '..', 'schemas');

// The types each outbound topic may carry (SPEC section 3), by the topic's
// role: the last dot-separated part of its name (loyalty.activity ->
// activity, so the tests' per-case topic names work too).
const TOPIC_TYPES = {
  activity: [
    'loyalty.points.changed',
    'loyalty.tier.changed',
    'loyalty.redemption.completed',
    'loyalty.redemption.rejected',
  ],
  offers: ['loyalty.offer'],
};

function schemaFiles(dir) {
  return fs
    .readdirSync(path.join(SCHEMAS_DIR, dir))
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => path.join(SCHEMAS_DIR, dir, f));
}

// A fresh Ajv holding every schema of schemas/events and schemas/outbound.
// Strict: an unknown keyword or format is an error, so a typo in a schema
// cannot silently accept everything.
function newAjv() {
  const ajv = new Ajv2020({
    strict: true,
    strictTypes: false, // the input schemas put limits on values of any type
    allowUnionTypes: true,
    allErrors: true,
  });
  addFormats(ajv);
  for (const dir of ['events', 'outbound']) {
    for (const file of schemaFiles(dir)) {
      const schema = JSON.parse(fs.readFileSync(file, 'utf8'));
      ajv.addSchema(schema);
    }
  }
  return ajv;
}

// Compile every schema; returns [{file, id, validate}] or throws naming the
// file that failed.
function compileAll(ajv) {
  const out = [];
  for (const dir of ['events', 'outbound']) {
    for (const file of schemaFiles(dir)) {
      const id = JSON.parse(fs.readFileSync(file, 'utf8')).$id;
      try {
        out.push({ file, id, validate: ajv.getSchema(id) });
      } catch (e) {
        throw new Error(`${path.relative(process.cwd(), file)}: ${e.message}`);
      }
      if (!out[out.length - 1].validate) throw new Error(`${file}: not compiled`);
    }
  }
  return out;
}

function outboundId(name) {
  return `https://loyaltyd.example/schemas/outbound/${name}.json`;
}

// Ajv's errors as one readable line each.
function describeErrors(errors) {
  return (errors || [])
    .map((e) => {
      let where = e.instancePath || '(root)';
      let extra = '';
      if (e.keyword === 'additionalProperties') extra = `: "${e.params.additionalProperty}"`;
      else if (e.keyword === 'enum') extra = `: ${JSON.stringify(e.params.allowedValues)}`;
      else if (e.keyword === 'const') extra = `: ${JSON.stringify(e.params.allowedValue)}`;
      return `${where} ${e.message}${extra}`;
    })
    .join('; ');
}

module.exports = { SCHEMAS_DIR, TOPIC_TYPES, newAjv, compileAll, outboundId, describeErrors };
