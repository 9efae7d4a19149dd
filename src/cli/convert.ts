/** `sluice convert FILE`: Argo Rollouts and Flagger manifests as sluice's own YAML (local, no daemon needed). */
import { readFileSync } from 'node:fs';
import { loadResources } from '../spec/load.js';
import { decodeSpecFile, readSpecFile } from '../spec/source.js';
import { UserError } from '../util/errors.js';
import { UsageError, type Command } from './command.js';

/** A file's documents as sluice YAML: imported ones translated, sluice's own as written; warnings beside. */
export function convertText(text: string, file: string): { yaml: string; warnings: string[] } {
  const resources = loadResources(text, file);
  return { yaml: resources.map((r) => r.source).join('---\n'), warnings: resources.flatMap((r) => r.warnings ?? []) };
}

/** Import warnings of a manifest, for `sluice apply` to print before sending it; none if it does not load (the API says why). */
export function importWarnings(text: string, file: string): string[] {
  try {
    return loadResources(text, file).flatMap((r) => r.warnings ?? []);
  } catch (err) {
    if (err instanceof UserError) return [];
    throw err;
  }
}

export const convertCommand: Command = {
  name: 'convert',
  summary: 'print Argo Rollouts / Flagger manifests as sluice YAML',
  usage: 'FILE',
  details:
    'Reads Argo Rollouts (Rollout, AnalysisTemplate, ClusterAnalysisTemplate) and Flagger\n' +
    '(Canary v1beta1/v1alpha3, MetricTemplate) documents and prints them as sluice documents\n' +
    '(sluice documents in the file are printed as they are; a Deployment a Canary or Rollout\n' +
    'names becomes its pod template). What sluice does not carry over is a warning on stderr:\n' +
    '  FILE:LINE: KIND NAME: FIELD is not supported by sluice: WHAT HAPPENS INSTEAD\n' +
    'FILE - reads stdin. Exit codes: 0 converted (warnings allowed), 1 the file is invalid. See docs/import.md.',
  async run(ctx) {
    const [arg, extra] = ctx.positionals;
    if (arg === undefined) throw new UsageError('missing FILE');
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
    const file = arg === '-' ? '<stdin>' : arg;
    const text = arg === '-' ? decodeSpecFile(readFileSync(0), file) : readFileOrFail(arg);
    const { yaml, warnings } = convertText(text, file);
    for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
    ctx.out(yaml.replace(/\n$/, ''));
    return 0;
  },
};

function readFileOrFail(arg: string): string {
  try {
    return readSpecFile(arg);
  } catch (err) {
    if (err instanceof UserError) throw err;
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new UserError(`${arg}: cannot read: ${reason} — check the path`);
  }
}
