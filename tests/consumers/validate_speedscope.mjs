// Validates a speedscope file against the JSON schema that the speedscope npm
// package ships (dist/release/file-format-schema.json), plus the invariants
// speedscope's importer relies on that a schema cannot express: every frame
// index in range, as many weights as samples, non-negative weights.
//
// Usage: node tests/consumers/validate_speedscope.mjs FILE
// Exit status 0 when the file is valid; otherwise the errors go to stderr.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import Ajv from 'ajv';

const require = createRequire(import.meta.url);
const file = process.argv[2];
if (!file) {
  console.error('usage: validate_speedscope.mjs FILE');
  process.exit(2);
}

const schemaPath = require.resolve('speedscope/dist/release/file-format-schema.json');
const schema = JSON.parse(readFileSync(schemaPath, 'utf8'));
const data = JSON.parse(readFileSync(file, 'utf8'));

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(schema);
const errors = [];
if (!validate(data)) {
  for (const e of validate.errors) {
    errors.push(`schema: ${e.instancePath || '/'} ${e.message}`);
  }
}

if (errors.length === 0) {
  const nframes = data.shared.frames.length;
  if (data.profiles.length === 0) {
    errors.push('no profiles');
  }
  data.profiles.forEach((p, i) => {
    if (p.type !== 'sampled') {
      return;
    }
    if (p.samples.length !== p.weights.length) {
      errors.push(`profiles[${i}]: ${p.samples.length} samples but ${p.weights.length} weights`);
    }
    p.samples.forEach((stack, j) => {
      for (const f of stack) {
        if (!Number.isInteger(f) || f < 0 || f >= nframes) {
          errors.push(`profiles[${i}].samples[${j}]: frame ${f} out of range (${nframes} frames)`);
        }
      }
    });
    let total = 0;
    p.weights.forEach((w, j) => {
      if (!(w >= 0)) {
        errors.push(`profiles[${i}].weights[${j}]: ${w} is negative`);
      }
      total += w;
    });
    if (p.endValue - p.startValue < total) {
      errors.push(`profiles[${i}]: endValue - startValue < sum of weights`);
    }
  });
}

if (errors.length > 0) {
  console.error(`${file}: not a valid speedscope file:`);
  for (const e of errors.slice(0, 50)) {
    console.error(`  ${e}`);
  }
  process.exit(1);
}
const version = require('speedscope/package.json').version;
console.log(`${file}: valid speedscope file (schema of speedscope ${version}, ${data.profiles.length} profiles)`);
