/** `sluice experiment …`: A/B test statistics (status, report --html/--markdown, plan, list). */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { renderExperimentHtml } from '../experiments/report/html.js';
import { renderExperimentMarkdown } from '../experiments/report/markdown.js';
import { UserError } from '../util/errors.js';
import { printStructured, stringFlag, UsageError, type Command, type Context } from './command.js';
import { makePlan, parsePlanFlags } from './experiment-plan.js';
import { renderExperimentList, renderExperimentStatus, renderPlan } from './render-experiment.js';

const ACTIONS = ['status', 'report', 'plan', 'list'] as const;

function nameArg(ctx: Context, action: string): string {
  const name = ctx.positionals[1];
  if (!name) throw new UsageError(`sluice experiment ${action} needs the rollout's NAME`);
  if (ctx.positionals.length > 2) throw new UsageError(`sluice experiment ${action} takes one NAME, got ${ctx.positionals.slice(1).join(' ')}`);
  return name;
}

function noMoreArgs(ctx: Context, action: string): void {
  if (ctx.positionals.length > 1) throw new UsageError(`unexpected argument "${ctx.positionals[1]}" for \`sluice experiment ${action}\``);
}

/** Written next to the target, then renamed over it: a reader never sees half a file. */
function writeAtomic(file: string, content: string): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, content);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new UserError(`cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function generator(): string {
  try {
    return `sluice ${(JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version}`;
  } catch {
    return 'sluice';
  }
}

const noReport = (name: string) => `rollout/${name}: no A/B test with metrics has run yet — nothing to report`;

export const experimentCommand: Command = {
  name: 'experiment',
  summary: 'A/B test statistics: status, report --html/--markdown, plan (sample size), list',
  usage:
    'status NAME [--experiment ID] [-o json|yaml] | report NAME --html FILE | --markdown FILE [--experiment ID] | plan --baseline RATE --mde RATE [--power P] [--alpha A] [--variants N] [--daily-users N] | list (the default)',
  flags: [
    ['--experiment ID', 'status, report: an earlier test of the rollout (r<revision>a<attempt>) instead of the latest'],
    ['--html FILE', 'report: one self-contained HTML page (tables and plots, no external assets)'],
    ['--markdown FILE', 'report: Markdown, with the plots as SVG files beside it (FILE-metric.svg, FILE-lift.svg)'],
    ['--baseline RATE', "plan: the control's conversion rate, 5% or 0.05"],
    ['--mean M, --sd S', 'plan: a continuous metric instead (mean and standard deviation per user)'],
    ['--mde RATE', 'plan: the smallest relative change worth finding, 10% or 0.1'],
    ['--power P', 'plan: the chance to find it if it is there (default 0.8)'],
    ['--alpha A', 'plan: significance level, two-sided (default 0.05)'],
    ['--variants N', 'plan: variants including the control (default 2)'],
    ['--daily-users N', 'plan: users entering the test per day: prints how many days it takes'],
    ['-o, --output json|yaml', 'print the raw data (status: {report, snapshots}; list; plan)'],
  ],
  details:
    'status shows per variant the users against the weights, per metric the rate or mean, the lift\n' +
    'of each treatment with its always-valid confidence interval and p-values (fixed-horizon,\n' +
    'always-valid, Holm-adjusted), the sample ratio check, guardrails and the recommendation.\n' +
    'plan needs no running sluice.',
  options: {
    experiment: { type: 'string' },
    html: { type: 'string' },
    markdown: { type: 'string' },
    baseline: { type: 'string' },
    mean: { type: 'string' },
    sd: { type: 'string' },
    mde: { type: 'string' },
    power: { type: 'string' },
    alpha: { type: 'string' },
    variants: { type: 'string' },
    'daily-users': { type: 'string' },
  },
  output: true,
  async run(ctx) {
    const action = ctx.positionals[0] ?? 'list';
    const now = Date.now();
    switch (action) {
      case 'list': {
        noMoreArgs(ctx, action);
        const list = await ctx.client().listExperiments();
        if (!printStructured(ctx, { experiments: list })) ctx.out(renderExperimentList(list, now));
        return 0;
      }
      case 'status': {
        const name = nameArg(ctx, action);
        const data = await ctx.client().experiment(name, stringFlag(ctx, 'experiment'));
        if (printStructured(ctx, data)) return 0;
        ctx.out(data.report ? renderExperimentStatus(data.report, now) : noReport(name));
        return 0;
      }
      case 'report': {
        const name = nameArg(ctx, action);
        const html = stringFlag(ctx, 'html');
        const markdown = stringFlag(ctx, 'markdown');
        if (html === undefined && markdown === undefined) throw new UsageError('sluice experiment report needs --html FILE or --markdown FILE (or both)');
        const data = await ctx.client().experiment(name, stringFlag(ctx, 'experiment'));
        if (!data.report) throw new UserError(noReport(name), 'no-experiment');
        const page = { generatedAt: now, generator: generator() };
        const snapshots = `${data.snapshots.length} snapshot${data.snapshots.length === 1 ? '' : 's'}`;
        if (html !== undefined) {
          const file = resolve(html);
          writeAtomic(file, renderExperimentHtml(data, page));
          ctx.out(`wrote ${file} (${snapshots})`);
        }
        if (markdown !== undefined) {
          const file = resolve(markdown);
          const base = basename(file).replace(/\.(md|markdown)$/i, '');
          const out = renderExperimentMarkdown(data, { ...page, base });
          for (const f of out.files) writeAtomic(join(dirname(file), f.name), f.content);
          writeAtomic(file, out.markdown);
          ctx.out(`wrote ${file}${out.files.length ? ` and ${out.files.map((f) => f.name).join(', ')}` : ''} (${snapshots})`);
        }
        return 0;
      }
      case 'plan': {
        noMoreArgs(ctx, action);
        const v = (flag: string) => stringFlag(ctx, flag);
        const plan = makePlan(
          parsePlanFlags({
            baseline: v('baseline'),
            mean: v('mean'),
            sd: v('sd'),
            mde: v('mde'),
            power: v('power'),
            alpha: v('alpha'),
            variants: v('variants'),
            'daily-users': v('daily-users'),
          }),
        );
        if (!printStructured(ctx, plan)) ctx.out(renderPlan(plan));
        return 0;
      }
      default:
        throw new UsageError(`unknown experiment action "${action}" — one of ${ACTIONS.join(', ')}`);
    }
  },
};
