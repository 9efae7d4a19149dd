/**
 * The experiment report as Markdown (`sluice experiment report NAME --markdown FILE`), with
 * the two plots as SVG files to write beside it (`<base>-metric.svg`, `<base>-lift.svg`),
 * linked as images: for a wiki, a pull request or a ticket. Pure: returns the texts.
 */
import type { ExperimentReport, MetricReport } from '../../core/experiment.js';
import { COMPARISON_COLUMNS, comparisonRows, controlOf, count, isoMinute, metricValue, num, pct, shares, srmTest } from './format.js';
import type { ExperimentData, PageOptions } from './html.js';
import { experimentPlots } from './plots.js';

/** Inline Markdown (emphasis, code, links via [ ], tables via |) and HTML's < > & escaped, so a name cannot make a link, a tag or break a table. */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/[\\`*_[\]|~]/g, (c) => `\\${c}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\r?\n/g, ' ');
}

const md = escapeMarkdown;

function table(headers: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map((_, i) => (i === 0 ? ':--' : '--:'))), ...rows.map(line)].join('\n');
}

function metricSection(m: MetricReport, control: string | undefined): string {
  const parts = [
    `### ${md(m.name)} (${m.kind}, ${m.direction === 'higher' ? 'higher' : 'lower'} is better${m.primary ? ', primary' : ''})`,
    '',
    table(
      ['Variant', 'Users', 'Converted', m.kind === 'binomial' ? 'Rate' : 'Mean', 'SD'],
      m.variants.map((v) => [md(v.variant), count(v.users), count(v.converted), metricValue(m.kind, v.mean), num(v.sd)]),
    ),
  ];
  if (m.comparisons.length > 0) {
    parts.push('', table(COMPARISON_COLUMNS, comparisonRows(m, control, md)));
  }
  return parts.join('\n');
}

function body(report: ExperimentReport, snapshots: ExperimentReport[], base: string): { text: string[]; files: { name: string; content: string }[] } {
  const r = report.recommendation;
  const text = [
    `Started ${report.startedAt === null ? '— (no exposure yet)' : isoMinute(report.startedAt)} · analysed ${isoMinute(report.at)} · ${snapshots.length} snapshots`,
    '',
    `**${r.verdict}${r.variant !== undefined ? ` ${md(r.variant)}` : ''}**${r.final ? ' (final)' : ''}: ${md(r.reason)}`,
  ];
  if (report.concluded) {
    const c = report.concluded;
    text.push('', `**Concluded:** ${c.verdict}${c.variant !== undefined ? ` ${md(c.variant)}` : ''} at ${isoMinute(c.at)} by ${md(c.by)}`);
  }
  const control = controlOf(report);
  const share = new Map(shares(report).map((s) => [s.variant, s]));
  text.push(
    '',
    '## Variants',
    '',
    table(
      ['Variant', 'Revision', 'Weight', 'Users', 'Share', 'Expected'],
      report.variants.map((v) => [
        md(v.variant) + (v.variant === control ? ' (control)' : ''),
        String(v.revision),
        `${v.weight}%`,
        count(v.users),
        pct(share.get(v.variant)!.share),
        pct(share.get(v.variant)!.expected),
      ]),
    ),
    '',
    `**Sample ratio check:** ${report.srm.mismatch ? '**MISMATCH** — users do not split as the weights say; no SHIP until it is fixed.' : 'ok.'} ${srmTest(report.srm)}`,
    '',
    '## Metrics',
    '',
    ...report.metrics.flatMap((m) => [metricSection(m, controlOf(report, m) ?? control), '']),
  );
  if (report.guardrails.length > 0) {
    text.push(
      '## Guardrails',
      '',
      table(
        ['Variant', 'Requests', 'Errors', 'p95', 'Status'],
        report.guardrails.map((g) => [
          md(g.variant),
          count(g.requests),
          pct(g.errorRate),
          g.p95LatencyMs === null ? '-' : `${count(g.p95LatencyMs)} ms`,
          g.violated ? `**VIOLATED**: ${md(g.violated)}` : 'ok',
        ]),
      ),
      '',
    );
  }
  const files: { name: string; content: string }[] = [];
  text.push('## Over time', '');
  for (const p of experimentPlots(report, snapshots)) {
    if (p.svg) {
      const name = `${base}-${p.id}.svg`;
      files.push({ name, content: `<?xml version="1.0" encoding="UTF-8"?>\n${p.svg}\n` });
      text.push(`![${md(p.title)}](${encodeURI(name)})`, '');
    } else text.push(`*${md(p.title)}*: ${md(p.note ?? '')}`, '');
  }
  return { text, files };
}

/** The Markdown text and the SVG files it links (names relative to the Markdown file; `base` is its name without `.md`). */
export function renderExperimentMarkdown(
  data: ExperimentData,
  options: PageOptions & { base: string },
): { markdown: string; files: { name: string; content: string }[] } {
  const report = data.report;
  const lines = [`# ${report ? md(`Experiment ${report.rollout} / ${report.experiment}`) : 'Experiment report'}`, ''];
  let files: { name: string; content: string }[] = [];
  if (!report) lines.push('This rollout has not run an A/B test with metrics yet: nothing to report.', '');
  else {
    const b = body(report, data.snapshots, options.base);
    lines.push(...b.text);
    files = b.files;
  }
  lines.push(`*Generated ${isoMinute(options.generatedAt)}${options.generator ? ` by ${md(options.generator)}` : ''}.*`, '');
  return { markdown: lines.join('\n'), files };
}
