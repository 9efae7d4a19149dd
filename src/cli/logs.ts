/** `sluice logs`: print (and follow) the log files of a rollout's instances. */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { InstanceStatus } from '../core/platform.js';
import { UserError } from '../util/errors.js';
import { boolFlag, positionals, positiveIntFlag, sleep, stringFlag, type Command, type Context } from './command.js';

const FOLLOW_POLL_MS = 200;
/** How often a follow looks for new instances (a restart or the next step starts some). */
const REFRESH_INSTANCES_MS = 2000;

/** One followed log file: where we are in it and the unfinished last line. */
interface Tail {
  id: string;
  file: string;
  offset: number;
  partial: string;
}

function fileSize(file: string): number | undefined {
  try {
    return statSync(file).size;
  } catch {
    return undefined;
  }
}

function readRange(file: string, from: number, to: number): string {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(to - from);
    let read = 0;
    while (read < buf.length) {
      const n = readSync(fd, buf, read, buf.length - read, from + read);
      if (n === 0) break;
      read += n;
    }
    return buf.subarray(0, read).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Prints what was appended to the file since the last call; complete lines only unless `flush`. */
function drain(_ctx: Context, tail: Tail, prefix: boolean, flush: boolean): void {
  const size = fileSize(tail.file);
  if (size === undefined) return;
  // Truncated or replaced: start over.
  if (size < tail.offset) {
    tail.offset = 0;
    tail.partial = '';
  }
  if (size > tail.offset) {
    tail.partial += readRange(tail.file, tail.offset, size);
    tail.offset = size;
  }
  const lines = tail.partial.split('\n');
  tail.partial = lines.pop() ?? '';
  if (flush && tail.partial) {
    lines.push(tail.partial);
    tail.partial = '';
  }
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
      if (!tails.has(i.id)) tails.set(i.id, { id: i.id, file: i.logFile, offset: 0, partial: '' });
    };
    found.forEach(track);
    const follow = boolFlag(ctx, 'follow');
    // With an explicit --instance there is only ever one; otherwise a follow may pick up more.
    let prefix = tails.size > 1;
    for (const tail of tails.values()) drain(ctx, tail, prefix, !follow);
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
      for (const tail of tails.values()) drain(ctx, tail, prefix, false);
    }
  },
};
