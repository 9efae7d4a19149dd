/**
 * What every CLI command shares: its declaration (flags, usage, help), the parsed context
 * it runs with, the usage error, and the small parsers for flag values.
 */
import { resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { ApiClient } from '../api/client.js';
import { parseDuration as parseSpecDuration } from '../spec/duration.js';
import { UserError } from '../util/errors.js';

export type OptionSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean };

export interface Command {
  name: string;
  /** One line for `sluice help`. */
  summary: string;
  /** Arguments and flags after `sluice <name>`, e.g. "NAME [--full]". */
  usage: string;
  /** Shown by `sluice help <name>`: flag → what it does. */
  flags?: [string, string][];
  /** Extra paragraphs for `sluice help <name>` (exit codes, examples). */
  details?: string;
  options?: Record<string, OptionSpec>;
  /** Read commands accept `-o json|yaml`. */
  output?: boolean;
  /** Returns the exit code. */
  run(ctx: Context): Promise<number>;
}

export interface Context {
  command: Command;
  stateDir: string;
  output?: 'json' | 'yaml';
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
  /** The API client for this state directory (reads api.json and the token lazily). */
  client(): ApiClient;
  out(text: string): void;
}

/** Wrong invocation: printed with the command's usage line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  'state-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

export const OUTPUT_OPTION: Record<string, OptionSpec> = {
  output: { type: 'string', short: 'o' },
};

export const GLOBAL_FLAG_HELP: [string, string][] = [
  ['--state-dir DIR', 'where sluice keeps its state (default .sluice in the current directory, or $SLUICE_STATE_DIR)'],
  ['-h, --help', 'show this help'],
];

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.SLUICE_STATE_DIR || '.sluice');
}

export function makeContext(command: Command, values: Context['values'], positionals: string[]): Context {
  const stateDir = typeof values['state-dir'] === 'string' ? resolve(values['state-dir']) : defaultStateDir();
  let output: Context['output'];
  if (values.output !== undefined) {
    if (values.output !== 'json' && values.output !== 'yaml') {
      throw new UsageError(`-o must be json or yaml, got "${String(values.output)}"`);
    }
    output = values.output;
  }
  let client: ApiClient | undefined;
  return {
    command,
    stateDir,
    output,
    values,
    positionals,
    client: () => (client ??= ApiClient.fromStateDir(stateDir)),
    out: (text) => {
      process.stdout.write(text.endsWith('\n') ? text : text + '\n');
    },
  };
}

/** Prints `value` as JSON or YAML when `-o` asked for it; returns whether it did. */
export function printStructured(ctx: Context, value: unknown): boolean {
  if (ctx.output === 'json') ctx.out(JSON.stringify(value, null, 2));
  else if (ctx.output === 'yaml') ctx.out(toYaml(value));
  else return false;
  return true;
}

/** Exactly `count` positional arguments, named for the error message. */
export function positionals(ctx: Context, names: string[]): string[] {
  const given = ctx.positionals;
  if (given.length < names.length) throw new UsageError(`missing ${names.slice(given.length).join(' ')}`);
  if (given.length > names.length) throw new UsageError(`unexpected argument "${given[names.length]}"`);
  return given;
}

export function stringFlag(ctx: Context, name: string): string | undefined {
  const v = ctx.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function listFlag(ctx: Context, name: string): string[] {
  const v = ctx.values[name];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : [];
}

export function boolFlag(ctx: Context, name: string): boolean {
  return ctx.values[name] === true;
}

export function positiveIntFlag(ctx: Context, name: string): number | undefined {
  const raw = stringFlag(ctx, name);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new UsageError(`--${name} must be a positive integer, got "${raw}"`);
  return Number(raw);
}

/** "30s", "5m", "1h", "1h30m", "500ms" or plain seconds (the spec's syntax) → milliseconds. */
export function parseDuration(text: string): number {
  try {
    return Math.round(parseSpecDuration(text) * 1000);
  } catch {
    throw new UserError(`invalid duration "${text}" — use e.g. 30s, 5m, 1h or plain seconds`);
  }
}

export function durationFlag(ctx: Context, name: string): number | undefined {
  const raw = stringFlag(ctx, name);
  if (raw === undefined) return undefined;
  try {
    return parseDuration(raw);
  } catch (err) {
    throw new UsageError(`--${name}: ${(err as Error).message}`);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
