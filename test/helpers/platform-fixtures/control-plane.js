// A stand-in control plane for the crash test: starts one demo-app instance through the
// compiled LocalPlatform, keeps its records in a JSON file, prints the instance's status
// once it is Ready, then idles until it is killed.
import { readFileSync, writeFileSync } from 'node:fs';
import { LocalPlatform } from '../../../dist/src/platform/local/local-platform.js';
import { demoTemplate } from '../../../dist/test/helpers/templates.js';

const [stateDir, recordsFile, demoApp] = process.argv.slice(2);
const load = () => {
  try {
    return JSON.parse(readFileSync(recordsFile, 'utf8'));
  } catch {
    return {};
  }
};
const records = {
  saveInstance: (record) => writeFileSync(recordsFile, JSON.stringify({ ...load(), [record.id]: record })),
  deleteInstance: (id) => {
    const all = load();
    delete all[id];
    writeFileSync(recordsFile, JSON.stringify(all));
  },
  listInstances: () => Object.values(load()),
};
const platform = new LocalPlatform({ stateDir, records });
platform.onChange((status) => {
  if (status.phase === 'Ready') console.log(JSON.stringify(status));
});
await platform.start(
  { id: '', rollout: 'web', revision: 1, generation: 0 },
  demoTemplate({
    version: 'v5',
    args: [demoApp],
    env: { VERSION: 'v5' },
    shutdown: { drainSeconds: 1, preStopDelaySeconds: 0, terminationGracePeriodSeconds: 2 },
  }),
);
setInterval(() => {}, 1000);
