// Writes schemas/*.schema.json (JSON Schema of every sluice resource kind, and of any
// document) from the compiled spec decoders: `npm run schemas` builds first. Files of a
// kind that no longer exists are removed, so schemas/ is exactly what the generator makes.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { schemaFiles } from '../dist/src/spec/json-schema.js';

const dir = new URL('../schemas/', import.meta.url);
mkdirSync(dir, { recursive: true });
const files = schemaFiles();
for (const name of readdirSync(dir)) {
  if (name.endsWith('.schema.json') && !files.some((f) => f.file === name)) rmSync(new URL(name, dir));
}
for (const { file, text } of files) writeFileSync(new URL(file, dir), text);
console.log(`wrote ${files.map((f) => `schemas/${f.file}`).join(', ')}`);
