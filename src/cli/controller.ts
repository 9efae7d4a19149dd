/** `sluice controller`: sluice in a cluster, leader-elected, over Rollout custom resources (src/daemon/kube-controller.ts). */
import { resolve } from 'node:path';
import { parseDuration } from '../spec/duration.js';
import { UserError } from '../util/errors.js';
import { positionals, stringFlag, type Command } from './command.js';

function durationMs(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  try {
    return parseDuration(raw) * 1000;
  } catch {
    throw new UserError(`--${flag} ${raw}: not a duration — write e.g. 15s`, 'bad-flag');
  }
}

export const controllerCommand: Command = {
  name: 'controller',
  summary: 'run sluice in a Kubernetes cluster: leader-elected, specs are Rollout custom resources',
  usage:
    '[--kubeconfig FILE] [--context NAME] [--namespace NS] [--identity ID] [--lease-duration 15s] [--api HOST:PORT] [--router-admin HOST:PORT] [--flags-listen HOST:PORT]',
  flags: [
    ['--kubeconfig FILE', 'the cluster (default $KUBECONFIG, ~/.kube/config, else the pod’s service account)'],
    ['--context NAME', "the kubeconfig's context"],
    ['--namespace NS', "the namespace watched, where the Lease lives and rollouts run (default the context's or the pod's)"],
    ['--identity ID', 'this replica in the Lease (default hostname-pid)'],
    ['--lease-name NAME', 'the Lease (default sluice-controller)'],
    ['--lease-duration D', 'how long a leader’s claim lasts for the others (default 15s; renew deadline 2/3 of it, retry 1/5)'],
    ['--api HOST:PORT', 'where the leader serves the control-plane API (default 127.0.0.1:7070)'],
    ['--router-admin HOST:PORT', "the builtin router's admin API (default 127.0.0.1:9901)"],
    ['--flags-listen HOST:PORT', 'where OFREP is served (default 127.0.0.1:8016)'],
  ],
  details:
    'Only the replica holding the Lease acts; one that loses it exits (its Deployment restarts it as a\n' +
    'candidate). Status, step and weight are written to each Rollout’s status subresource, decisions\n' +
    'as Kubernetes Events. Install: deploy/kubernetes/ (docs/kubernetes-controller.md).',
  options: {
    kubeconfig: { type: 'string' },
    context: { type: 'string' },
    namespace: { type: 'string' },
    identity: { type: 'string' },
    'lease-name': { type: 'string' },
    'lease-duration': { type: 'string' },
    api: { type: 'string' },
    'router-admin': { type: 'string' },
    'flags-listen': { type: 'string' },
  },
  async run(ctx) {
    positionals(ctx, []);
    const lease = durationMs('lease-duration', stringFlag(ctx, 'lease-duration')) ?? 15_000;
    if (lease < 3000) throw new UserError(`--lease-duration ${stringFlag(ctx, 'lease-duration')}: at least 3s`, 'bad-flag');
    const { runController } = await import('../daemon/kube-controller.js');
    const kubeconfig = stringFlag(ctx, 'kubeconfig');
    await runController({
      stateDir: ctx.stateDir,
      apiListen: stringFlag(ctx, 'api') ?? '127.0.0.1:7070',
      routerAdmin: stringFlag(ctx, 'router-admin') ?? '127.0.0.1:9901',
      flagsListen: stringFlag(ctx, 'flags-listen') ?? '127.0.0.1:8016',
      ...(kubeconfig ? { kubeconfig: resolve(kubeconfig) } : {}),
      ...(stringFlag(ctx, 'context') ? { context: stringFlag(ctx, 'context') } : {}),
      ...(stringFlag(ctx, 'namespace') ? { namespace: stringFlag(ctx, 'namespace') } : {}),
      ...(stringFlag(ctx, 'identity') ? { identity: stringFlag(ctx, 'identity') } : {}),
      ...(stringFlag(ctx, 'lease-name') ? { leaseName: stringFlag(ctx, 'lease-name') } : {}),
      leaseDurationMs: lease,
      renewDeadlineMs: Math.round((lease * 2) / 3),
      retryPeriodMs: Math.round(lease / 5),
    });
    process.exit(0);
  },
};
