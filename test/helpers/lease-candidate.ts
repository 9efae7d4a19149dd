/**
 * One leader-election candidate in a process of its own (test/integration/k8s-lease.test.ts):
 * stands for a Lease with src/kube/lease.ts and appends `start <ms>` / `stop <ms>` lines to
 * a file as it starts and stops leading (synchronous writes: a SIGKILL loses nothing
 * written). SIGTERM stops it cleanly (the lease is released), then it exits.
 *   argv: server caFile token namespace leaseName identity outFile leaseMs renewMs retryMs
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { KubeClient } from '../../src/kube/client.js';
import { LeaderElector } from '../../src/kube/lease.js';

const [server, caFile, token, namespace, name, identity, out, lease, renew, retry] = process.argv.slice(2);
if (!server || !caFile || !token || !namespace || !name || !identity || !out)
  throw new Error('usage: lease-candidate server caFile token namespace name identity outFile leaseMs renewMs retryMs');
const client = new KubeClient({ server, token, ca: readFileSync(caFile, 'utf8') });
const elector = new LeaderElector({
  client,
  namespace,
  name,
  identity,
  leaseDurationMs: Number(lease),
  renewDeadlineMs: Number(renew),
  retryPeriodMs: Number(retry),
  log: (line) => process.stderr.write(`${line}\n`),
});
const note = (what: string) => appendFileSync(out, `${what} ${Date.now()}\n`);
let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
  void elector.stop().then(async () => {
    await client.close();
    process.exit(0);
  });
});
note('ready');
// Leadership lost: stand again (the test wants a candidate, not an exit).
while (!stopping) {
  await elector.run({ onStartedLeading: () => note('start'), onStoppedLeading: () => note('stop') });
}
