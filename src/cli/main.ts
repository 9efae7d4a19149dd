/**
 * The `sluice` command line: finds the command, parses its flags with node:util parseArgs,
 * runs it, and turns errors into one `error:` line and an exit code (1; 2 for usage).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { suggest } from '../spec/schema.js';
import { UserError } from '../util/errors.js';
import {
  abortCommand,
  approveCommand,
  deleteCommand,
  pauseCommand,
  promoteCommand,
  restartCommand,
  stopTrafficCommand,
  pauseTrafficCommand,
  resumeTrafficCommand,
  resumeCommand,
  retryCommand,
  setCommand,
  undoCommand,
} from './actions.js';
import { applyCommand, lintCommand } from './apply.js';
import { convertCommand } from './convert.js';
import { controllerCommand } from './controller.js';
import { GLOBAL_FLAG_HELP, GLOBAL_OPTIONS, makeContext, OUTPUT_OPTION, UsageError, type Command, type OptionSpec } from './command.js';
import { downCommand, upCommand } from './daemon.js';
import { eventsCommand, getCommand, historyCommand, statusCommand } from './get.js';
import { logsCommand } from './logs.js';
import { routerCommand } from './router.js';
import { flagsCommand } from './flags.js';
import { experimentCommand } from './experiment.js';
import { dbCommand } from './db.js';
import { kpisCommand, rejectCommand, releaseCommand, withDeploymentLog, withReleaseApproval } from './release.js';
import { auditCommand, tokenCommand, whoamiCommand } from './tokens.js';

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const versionCommand: Command = {
  name: 'version',
  summary: 'print the sluice version',
  usage: '',
  async run(ctx) {
    ctx.out(`sluice ${version()} (node ${process.version})`);
    return 0;
  },
};

const helpCommand: Command = {
  name: 'help',
  summary: 'show help for sluice or for one command',
  usage: '[COMMAND]',
  async run(ctx) {
    const [name, extra] = ctx.positionals;
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
    if (name === undefined) {
      ctx.out(overview());
      return 0;
    }
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) {
      const near = suggest(
        name,
        COMMANDS.map((c) => c.name),
      );
      throw new UsageError(`unknown command "${name}" — ${near ? `did you mean \`sluice help ${near}\`? ` : ''}see \`sluice help\``);
    }
    ctx.out(commandHelp(command));
    return 0;
  },
};

/** In the order `sluice help` lists them. */
export const COMMANDS: Command[] = [
  upCommand,
  controllerCommand,
  downCommand,
  applyCommand,
  lintCommand,
  convertCommand,
  getCommand,
  statusCommand,
  withDeploymentLog(historyCommand),
  eventsCommand,
  logsCommand,
  promoteCommand,
  withReleaseApproval(approveCommand),
  rejectCommand,
  abortCommand,
  retryCommand,
  pauseCommand,
  resumeCommand,
  undoCommand,
  restartCommand,
  stopTrafficCommand,
  pauseTrafficCommand,
  resumeTrafficCommand,
  setCommand,
  deleteCommand,
  routerCommand,
  flagsCommand,
  experimentCommand,
  dbCommand,
  releaseCommand,
  kpisCommand,
  tokenCommand,
  whoamiCommand,
  auditCommand,
  versionCommand,
  helpCommand,
];

export function usageLine(command: Command): string {
  return `usage: sluice ${command.name}${command.usage ? ` ${command.usage}` : ''}`;
}

function flagList(flags: [string, string][]): string {
  const width = Math.max(...flags.map(([f]) => f.length));
  return flags.map(([f, d]) => `  ${f.padEnd(width)}   ${d}`).join('\n');
}

export function commandHelp(command: Command): string {
  const parts = [usageLine(command), '', command.summary];
  if (command.details) parts.push('', command.details);
  if (command.flags?.length) parts.push('', 'Flags:', flagList(command.flags));
  parts.push('', 'Global flags:', flagList(GLOBAL_FLAG_HELP));
  return parts.join('\n');
}

export function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'sluice: progressive delivery on one machine',
    '',
    'usage: sluice COMMAND [flags]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}   ${c.summary}`),
    '',
    'Global flags:',
    flagList(GLOBAL_FLAG_HELP),
    '',
    'Run `sluice help COMMAND` or `sluice COMMAND --help` for its flags.',
  ].join('\n');
}

/** Global flags taking a value, which may come before the command name. */
const GLOBAL_VALUE_FLAGS = new Set(['--state-dir', '-o', '--output']);

/** Index of the command name: the first argument that is neither a flag nor a global flag's value. */
function findCommand(argv: string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return i + 1 < argv.length ? i + 1 : -1;
    if (GLOBAL_VALUE_FLAGS.has(arg)) {
      i++;
      continue;
    }
    if (!arg.startsWith('-')) return i;
  }
  return -1;
}

/** node's parseArgs messages are long and mention internals; keep what the user needs. */
function parseError(err: Error & { code?: string }, options: Record<string, OptionSpec>): string {
  const option = /'(-[^']*)'/.exec(err.message)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const flag = option?.split('=')[0];
      const near = flag?.startsWith('--')
        ? suggest(
            flag,
            Object.keys(options).map((k) => `--${k}`),
          )
        : undefined;
      return `unknown flag ${option ?? err.message}${near ? ` — did you mean ${near}?` : ''}`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return option ? `flag ${option.split(',')[0]} needs a value` : err.message;
    default:
      return err.message.split('. ')[0]!;
  }
}

export async function main(argv: string[]): Promise<number> {
  const at = findCommand(argv);
  const rest = at < 0 ? argv : [...argv.slice(0, at), ...argv.slice(at + 1)];
  const name = at < 0 ? undefined : argv[at];
  if (name === undefined) {
    if (rest.includes('--version')) return main(['version']);
    const asked = rest.includes('-h') || rest.includes('--help');
    (asked ? process.stdout : process.stderr).write(overview() + '\n');
    return asked ? 0 : 2;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    const near = suggest(
      name,
      COMMANDS.map((c) => c.name),
    );
    process.stderr.write(`error: unknown command "${name}" — ${near ? `did you mean \`sluice ${near}\`? ` : ''}see \`sluice help\`\n`);
    return 2;
  }

  try {
    const options: Record<string, OptionSpec> = { ...GLOBAL_OPTIONS, ...(command.output ? OUTPUT_OPTION : {}), ...command.options };
    let parsed;
    try {
      parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
    } catch (err) {
      throw new UsageError(parseError(err as Error & { code?: string }, options));
    }
    if (parsed.values.help) {
      process.stdout.write(commandHelp(command) + '\n');
      return 0;
    }
    const ctx = makeContext(command, parsed.values, parsed.positionals);
    return await command.run(ctx);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n${usageLine(command)}\n`);
      return 2;
    }
    if (err instanceof UserError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    const e = err as Error;
    process.stderr.write(`error: ${e?.message?.split('\n')[0] || String(err)}\n`);
    if (process.env.SLUICE_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
    return 1;
  }
}
