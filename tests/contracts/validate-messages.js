#!/usr/bin/env node
// validate-messages.js: checks messages loyaltyd published against the
// outbound contracts, as a consumer would see them.
//
//   node validate-messages.js [--role activity|offers|dlq]
//        [--allow-missing-content-type] FILE...
//
// Each FILE is a kcat dump, one JSON object per line, as
// `kcat -C -J -e -t TOPIC` writes it: {"topic", "partition", "offset",
// "headers": [name, value, ...], "key", "payload", ...}. The topic's role
// is the last dot-separated part of its name (loyalty.activity ->
// activity) unless --role says it.
//
// activity, offers: the payload must be valid against
//   schemas/outbound/<type>.json for a type that topic carries, its
//   subject and data.customer_id must equal the message key, and the
//   official CloudEvents SDK must accept it: `new CloudEvent(...)` in
//   strict mode on the parsed payload, and `Kafka.toEvent(...)` on the
//   whole message, as a mailer using the SDK's Kafka binding would. The
//   Kafka binding recognises a structured-mode message by its header
//   content-type: application/cloudevents+json; --allow-missing-content-type
//   tolerates its absence (counted and reported) and then parses the
//   message as if it had one.
// dlq: the headers (as an object, the last value of a repeated name)
//   must be valid against schemas/outbound/dlq-headers.json.
//
// Exits 1 at the first invalid message, naming the file, line, topic,
// partition and offset and every schema error; 2 on a usage error. When
// every message passes, prints a count per type and exits 0.
'use strict';

const fs = require('fs');
const { CloudEvent, Kafka } = require('cloudevents');
const { TOPIC_TYPES, newAjv, outboundId, describeErrors } = require('./contracts');

const CE_JSON = 'application/cloudevents+json';

function usage(msg) {
  if (msg) console.error(`validate-messages: ${msg}`);
  console.error('usage: validate-messages.js [--role activity|offers|dlq] [--allow-missing-content-type] FILE...');
  process.exit(2);
}

function parseArgs(argv) {
  const opt = { role: null, allowMissingContentType: false, files: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--role') {
      opt.role = argv[++i];
      if (!['activity', 'offers', 'dlq'].includes(opt.role)) usage(`unknown role "${opt.role}"`);
    } else if (a === '--allow-missing-content-type') {
      opt.allowMissingContentType = true;
    } else if (a === '-h' || a === '--help') {
      usage();
    } else if (a.startsWith('--')) {
      usage(`unknown option "${a}"`);
    } else {
      opt.files.push(a);
    }
  }
  if (opt.files.length === 0) usage('no file given');
  return opt;
}

class Invalid extends Error {}

// kcat's flat [name, value, name, value, ...] as an object; a repeated name
// keeps its last value (loyaltyd appends its dlq.* headers after the
// original ones).
function headerObject(h) {
  const out = {};
  if (h == null) return out;
  if (!Array.isArray(h) || h.length % 2 !== 0) throw new Invalid(`headers are not a name/value list: ${JSON.stringify(h)}`);
  for (let i = 0; i < h.length; i += 2) out[h[i]] = h[i + 1];
  return out;
}

function roleOf(topic, forced) {
  if (forced) return forced;
  if (typeof topic !== 'string') throw new Invalid('no topic in the dump line (use kcat -J)');
  const role = topic.slice(topic.lastIndexOf('.') + 1);
  if (!(role in TOPIC_TYPES) && role !== 'dlq') {
    throw new Invalid(`topic "${topic}" is no outbound topic (activity, offers, dlq); use --role`);
  }
  return role;
}

function main() {
  const opt = parseArgs(process.argv.slice(2));
  const ajv = newAjv();
  const validators = {};
  for (const types of Object.values(TOPIC_TYPES)) {
    for (const t of types) validators[t] = ajv.getSchema(outboundId(t));
  }
  const dlqHeaders = ajv.getSchema(outboundId('dlq-headers'));
  const counts = new Map();
  let total = 0;
  let missingContentType = 0;

  function checkEvent(m, role, headers) {
    if (typeof m.payload !== 'string') throw new Invalid('no payload');
    let ev;
    try {
      ev = JSON.parse(m.payload);
    } catch (e) {
      throw new Invalid(`payload is not JSON: ${e.message}`);
    }
    if (ev === null || typeof ev !== 'object' || Array.isArray(ev)) throw new Invalid('payload is not a JSON object');
    const type = ev.type;
    if (!TOPIC_TYPES[role].includes(type)) {
      throw new Invalid(`type ${JSON.stringify(type)} does not belong on the ${role} topic (want one of ${TOPIC_TYPES[role].join(', ')})`);
    }
    const validate = validators[type];
    if (!validate(ev)) throw new Invalid(`${type} ${ev.id}: ${describeErrors(validate.errors)}`);
    if (m.key !== ev.data.customer_id) {
      throw new Invalid(`${type} ${ev.id}: key ${JSON.stringify(m.key)} is not data.customer_id ${JSON.stringify(ev.data.customer_id)}`);
    }
    if (ev.subject !== ev.data.customer_id) {
      throw new Invalid(`${type} ${ev.id}: subject ${JSON.stringify(ev.subject)} is not data.customer_id`);
    }
    // The SDK, strict: its own check of the CloudEvents 1.0 attributes.
    let ce;
    try {
      ce = new CloudEvent(ev, true);
    } catch (e) {
      throw new Invalid(`${type} ${ev.id}: the CloudEvents SDK refuses it: ${e.message}${e.errors ? ' ' + JSON.stringify(e.errors) : ''}`);
    }
    if (ce.id !== ev.id || ce.type !== type || ce.data.customer_id !== ev.data.customer_id) {
      throw new Invalid(`${type} ${ev.id}: the CloudEvents SDK read it differently`);
    }
    // As a mailer on the SDK's Kafka binding receives it.
    const kheaders = { ...headers };
    const ct = kheaders['content-type'];
    if (ct === undefined) {
      if (!opt.allowMissingContentType) {
        throw new Invalid(`${type} ${ev.id}: no content-type header; the CloudEvents Kafka binding needs "${CE_JSON}" on a structured-mode message`);
      }
      missingContentType++;
      kheaders['content-type'] = CE_JSON;
    } else if (typeof ct !== 'string' || !ct.toLowerCase().startsWith(CE_JSON)) {
      throw new Invalid(`${type} ${ev.id}: content-type header ${JSON.stringify(ct)} is not ${CE_JSON}`);
    }
    let kev;
    try {
      kev = Kafka.toEvent({ key: m.key, value: m.payload, headers: kheaders, timestamp: String(m.ts) });
    } catch (e) {
      throw new Invalid(`${type} ${ev.id}: the CloudEvents SDK's Kafka binding refuses it: ${e.message}`);
    }
    if (Array.isArray(kev) || kev.id !== ev.id || kev.type !== type || kev.subject !== ev.subject) {
      throw new Invalid(`${type} ${ev.id}: the CloudEvents SDK's Kafka binding read it differently`);
    }
    return type;
  }

  function checkDlq(headers) {
    if (!dlqHeaders(headers)) throw new Invalid(`dlq headers: ${describeErrors(dlqHeaders.errors)}`);
    return `dlq:${headers['dlq.error.code']}`;
  }

  for (const file of opt.files) {
    let lines;
    try {
      lines = fs.readFileSync(file, 'utf8').split('\n');
    } catch (e) {
      usage(`${file}: ${e.message}`);
    }
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].trim() === '') continue;
      let m = null;
      try {
        try {
          m = JSON.parse(lines[i]);
        } catch (e) {
          throw new Invalid(`not a kcat -J line: ${e.message}`);
        }
        const role = roleOf(m.topic, opt.role);
        const headers = headerObject(m.headers);
        const kind = role === 'dlq' ? checkDlq(headers) : checkEvent(m, role, headers);
        counts.set(kind, (counts.get(kind) || 0) + 1);
        total++;
      } catch (e) {
        if (!(e instanceof Invalid)) throw e;
        const where = m && m.topic !== undefined ? ` (${m.topic} [${m.partition}] @${m.offset})` : '';
        console.error(`validate-messages: ${file}:${i + 1}${where}: INVALID: ${e.message}`);
        process.exit(1);
      }
    }
  }
  for (const [kind, n] of [...counts.entries()].sort()) console.log(`${kind}: ${n} valid`);
  if (missingContentType > 0) {
    console.log(`warning: ${missingContentType} of ${total} events had no content-type header (CloudEvents Kafka binding, structured mode); parsed as ${CE_JSON}`);
  }
  console.log(`contracts: ${total} messages valid`);
}

main();
