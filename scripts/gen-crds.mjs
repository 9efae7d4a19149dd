// Writes deploy/kubernetes/crds.yaml (the CustomResourceDefinitions of sluice's kinds) from
// the compiled spec schemas (src/spec/crds.ts): run `npm run build` first.
// test/unit/crds.test.ts fails when the committed file differs from what this writes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { crds, crdsYaml } from '../dist/src/spec/crds.js';

const dir = new URL('../deploy/kubernetes/', import.meta.url);
mkdirSync(dir, { recursive: true });
writeFileSync(new URL('crds.yaml', dir), crdsYaml());
for (const c of crds()) {
  console.log(
    `${c.kind}: ${c.loose.length} field(s) preserved as written${c.droppedPatterns.length ? `, ${c.droppedPatterns.length} pattern(s) RE2 cannot compile dropped` : ''}`,
  );
}
console.log('wrote deploy/kubernetes/crds.yaml');
