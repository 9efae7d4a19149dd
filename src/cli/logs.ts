/** `sluice logs`: print (and follow) the output of a rollout's instances, read through the API. */
import type { InstanceStatus } from '../core/platform.js';
import type { ApiClient } from '../api/client.js';
import { UserError } from '../util/errors.js';
import { boolFlag, positionals, positiveIntFlag, sleep, stringFlag, type Command } from './command.js';

const FOLLOW_POLL_MS = 200;
/** How often a follow looks for new instances (a restart or the next step starts some). */
const REFRESH_INSTANCES_MS = 2000;
/** Per request; a larger backlog takes several. */
const CHUNK_BYTES = 256 * 1024;

/** One followed instance log: where we are in it and the unfinished last line. */
interface Tail {
  id: string;
  offset: number;
  partial: string;
  /** The instance is gone: nothing more to read. */
  gone?: boolean;
}

/** Prints what the instance wrote since the last call; complete lines only unless `flush`. */
async function drain(client: ApiClient, name: string, tail: Tail, prefix: boolean, flush: boolean): Promise<void> {
  let gone = false;
  // Until caught up: a backlog larger than one chunk takes several reads.
  for (;;) {
    let chunk;
    try {
      chunk = await client.logs(name, tail.id, tail.offset, CHUNK_BYTES);
    } catch (err) {
      // The instance stopped since it was listed: print what is left of its last line, then leave it.
      if (!(err instanceof UserError && err.status === 404)) throw err;
      gone = true;
      break;
    }
    // The log was truncated or replaced, and the platform read it from its start.
    if (chunk.offset < tail.offset) tail.partial = '';
    const progressed = chunk.offset !== tail.offset;
    tail.offset = chunk.offset;
    tail.partial += chunk.text;
    if (!progressed) break;
  }
  const lines = tail.partial.split('\n');
  tail.partial = lines.pop() ?? '';
  if ((flush || gone) && tail.partial) {
    lines.push(tail.partial);
    tail.partial = '';
  }
  if (gone) tail.gone = true;
  if (lines.length === 0) return;
  const tag = prefix ? `[${tail.id}] ` : '';
  process.stdout.write(lines.map((l) => tag + l + '\n').join(''));
}

function matching(instances: InstanceStatus[], revision: number | undefined, instance: string | undefined): InstanceStatus[] {
  return instances
    .filter((i) => i.phase !== 'Stopped')
    .filter((i) => revision === undefined || i.revision === revision)
    .filter((i) => instance === undefined || i.id === instance)
    .sort((a, b) => a.revision - b.revision || a.startedAt - b.startedAt || a.id.localeCompare(b.id));
}

export const logsCommand: Command = {
  name: 'logs',
  summary: "print the logs of a rollout's instances",
  usage: 'NAME [--revision N] [--instance ID] [-f]',
  flags: [
    ['--revision N', 'only instances of this revision'],
    ['--instance ID', 'only this instance (ids are in `sluice get rollout NAME`)'],
    ['-f, --follow', 'keep printing new lines (and new instances) until Ctrl-C'],
  ],
  details: 'Lines are prefixed with [instance-id] when more than one instance matches. Exit 1 when none is running.',
  options: {
    revision: { type: 'string' },
    instance: { type: 'string' },
    follow: { type: 'boolean', short: 'f' },
  },
  async run(ctx) {
    const [name] = positionals(ctx, ['NAME']);
    const revision = positiveIntFlag(ctx, 'revision');
    const instance = stringFlag(ctx, 'instance');
    const client = ctx.client();
    const found = matching((await client.get(name!)).instances, revision, instance);
    if (found.length === 0) {
      const which = [revision !== undefined ? `of revision ${revision}` : '', instance ? `with id ${instance}` : ''].filter(Boolean).join(' ');
      throw new UserError(`rollout "${name}" has no running instance${which ? ` ${which}` : ''} — see \`sluice get rollout ${name}\``, 'not-found', 404);
    }
    const tails = new Map<string, Tail>();
    const track = (i: InstanceStatus) => {
      if (!tails.has(i.id)) tails.set(i.id, { id: i.id, offset: 0, partial: '' });
    };
    found.forEach(track);
    const follow = boolFlag(ctx, 'follow');
    // With an explicit --instance there is only ever one; otherwise a follow may pick up more.
    let prefix = tails.size > 1;
    for (const tail of tails.values()) await drain(client, name!, tail, prefix, !follow);
    if (!follow) return 0;

    let nextRefresh = Date.now() + REFRESH_INSTANCES_MS;
    for (;;) {
      await sleep(FOLLOW_POLL_MS);
      if (Date.now() >= nextRefresh) {
        nextRefresh = Date.now() + REFRESH_INSTANCES_MS;
        const view = await client.get(name!);
        matching(view.instances, revision, instance).forEach(track);
        prefix ||= tails.size > 1;
      }
      for (const tail of tails.values()) if (!tail.gone) await drain(client, name!, tail, prefix, false);
    }
  },
};
