#!/usr/bin/env node
// Independent SOQL syntax check for crmbot's tests (tests/soql_corpus.rs).
//
// Reads a JSON array of SOQL strings on stdin and prints a JSON array of
// {"ok": bool, "error": string|null}, one per query, in the same order. One process checks
// the whole corpus. Exit status: 0 when the input was a JSON array of strings (whatever the
// verdicts), 2 on bad input.
//
// The parser is @jetstreamapp/soql-parser-js (v6): syntax only. It knows no objects or
// fields, so "ok" means "parses", not "Salesforce will accept it".
//
// Setup: npm ci --prefix tools/soql-check
'use strict';

const { parseQuery } = require('@jetstreamapp/soql-parser-js');

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

function check(soql) {
  try {
    parseQuery(soql); // throws on lexing or parsing errors
    return { ok: true, error: null };
  } catch (e) {
    const message = String(e && e.message ? e.message : e).replace(/\s+/g, ' ').trim();
    return { ok: false, error: message || 'parse error' };
  }
}

readStdin()
  .then((text) => {
    let queries;
    try {
      queries = JSON.parse(text);
    } catch (e) {
      process.stderr.write(`validate-soql: stdin is not JSON: ${e.message}\n`);
      process.exit(2);
    }
    if (!Array.isArray(queries) || !queries.every((q) => typeof q === 'string')) {
      process.stderr.write('validate-soql: stdin must be a JSON array of strings\n');
      process.exit(2);
    }
    process.stdout.write(JSON.stringify(queries.map(check)) + '\n');
  })
  .catch((e) => {
    process.stderr.write(`validate-soql: ${e && e.message ? e.message : e}\n`);
    process.exit(2);
  });
