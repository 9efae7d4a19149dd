/**
 * The experiment report as one self-contained HTML page (`sluice experiment report NAME
 * --html FILE`): inline CSS and inline SVG, no script, no external asset, so it can be
 * mailed, attached to a ticket or printed. Pure: data in, a string out. Every piece of text
 * that comes from a spec or a user (rollout, metric and variant names, reasons) is escaped.
 */
import type { ExperimentReport, MetricReport } from '../../core/experiment.js';
import { COMPARISON_COLUMNS, comparisonRows, controlOf, count, isoMinute, metricValue, num, pct, shares, srmTest } from './format.js';
import { experimentPlots } from './plots.js';
import { escapeXml as esc } from './svg.js';

export interface ExperimentData {
  report: ExperimentReport | null;
  snapshots: ExperimentReport[];
}

export interface PageOptions {
  /** When the page was made (epoch ms): shown, and the reference for ages. */
  generatedAt: number;
  /** e.g. "sluice 0.1.0". */
  generator?: string;
}

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111; background: #fff; margin: 0 auto; max-width: 980px; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ccc; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: #444; margin: 0 0 16px; }
.verdict { border: 2px solid #555; border-left-width: 8px; padding: 10px 14px; margin: 12px 0; }
.verdict strong { font-size: 16px; }
.v-SHIP { border-color: #009E73; } .v-STOP { border-color: #D55E00; } .v-NEUTRAL { border-color: #777; } .v-CONTINUE { border-color: #0072B2; }
table { border-collapse: collapse; margin: 6px 0 10px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #bbb; padding: 4px 9px; text-align: right; vertical-align: top; }
th { background: #f0f0f0; font-weight: 600; }
th:first-child, td:first-child { text-align: left; }
.alarm { color: #a23a00; font-weight: 600; }
.ok { color: #006b4f; }
.note { color: #444; font-style: italic; }
figure { margin: 14px 0 22px; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: #444; font-size: 13px; }
footer { margin-top: 32px; color: #666; font-size: 12px; }
@media print {
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { padding: 0; max-width: none; }
  h2 { break-after: avoid; } figure, table { break-inside: avoid; }
}
`;

const row = (cells: string[], tag: 'td' | 'th' = 'td') => `<tr>${cells.map((c) => `<${tag}>${c}</${tag}>`).join('')}</tr>`;

function table(headers: string[], rows: string[][], caption?: string): string {
  return [
    '<table>',
    caption ? `<caption class="note">${esc(caption)}</caption>` : '',
    `<thead>${row(headers.map(esc), 'th')}</thead>`,
    `<tbody>${rows.map((r) => row(r)).join('')}</tbody>`,
    '</table>',
  ].join('');
}

function variantsTable(report: ExperimentReport): string {
  const control = controlOf(report);
  const share = new Map(shares(report).map((s) => [s.variant, s]));
  return table(
    ['Variant', 'Revision', 'Weight', 'Users', 'Share', 'Expected'],
    report.variants.map((v) => [
      esc(v.variant) + (v.variant === control ? ' <span class="note">(control)</span>' : ''),
      String(v.revision),
      esc(`${v.weight}%`),
      count(v.users),
      pct(share.get(v.variant)!.share),
      pct(share.get(v.variant)!.expected),
    ]),
  );
}

function metricSection(m: MetricReport, control: string | undefined): string {
  const better = m.direction === 'higher' ? 'higher is better' : 'lower is better';
  const parts = [
    `<h3>${esc(m.name)} <span class="note">(${esc(m.kind)}, ${better}${m.primary ? ', primary' : ''})</span></h3>`,
    table(
      ['Variant', 'Users', 'Converted', m.kind === 'binomial' ? 'Rate' : 'Mean', 'SD'],
      m.variants.map((v) => [esc(v.variant), count(v.users), count(v.converted), metricValue(m.kind, v.mean), num(v.sd)]),
    ),
  ];
  if (m.comparisons.length > 0) {
    parts.push(table(COMPARISON_COLUMNS, comparisonRows(m, control, esc)));
  }
  return parts.join('\n');
}

function summary(report: ExperimentReport): string {
  const r = report.recommendation;
  const parts = [
    `<div class="verdict v-${esc(r.verdict)}"><strong>${esc(r.verdict)}${r.variant !== undefined ? ` ${esc(r.variant)}` : ''}</strong>${r.final ? ' (final)' : ''}<br>${esc(r.reason)}</div>`,
  ];
  if (report.concluded) {
    const c = report.concluded;
    parts.push(
      `<p><strong>Concluded:</strong> ${esc(c.verdict)}${c.variant !== undefined ? ` ${esc(c.variant)}` : ''} at ${isoMinute(c.at)} by ${esc(c.by)}</p>`,
    );
  }
  parts.push('<h2>Variants</h2>', variantsTable(report));
  const s = report.srm;
  parts.push(
    `<p><strong>Sample ratio check:</strong> ${
      s.mismatch
        ? '<span class="alarm">MISMATCH</span> — users do not split as the weights say (assignment or logging is broken); no SHIP until it is fixed.'
        : '<span class="ok">ok</span>.'
    } ${srmTest(s)}</p>`,
  );
  const control = controlOf(report);
  parts.push('<h2>Metrics</h2>', ...report.metrics.map((m) => metricSection(m, controlOf(report, m) ?? control)));
  if (report.guardrails.length > 0) {
    parts.push(
      '<h2>Guardrails</h2>',
      table(
        ['Variant', 'Requests', 'Errors', 'p95', 'Status'],
        report.guardrails.map((g) => [
          esc(g.variant),
          count(g.requests),
          pct(g.errorRate),
          g.p95LatencyMs === null ? '-' : `${count(g.p95LatencyMs)} ms`,
          g.violated ? `<span class="alarm">VIOLATED</span>: ${esc(g.violated)}` : '<span class="ok">ok</span>',
        ]),
      ),
    );
  }
  const { outsideWindow, unexposed } = report.ignored;
  if (outsideWindow > 0 || unexposed > 0) {
    parts.push(`<p class="note">Not counted: ${count(outsideWindow)} conversions after the metric's window, ${count(unexposed)} from users never exposed.</p>`);
  }
  return parts.join('\n');
}

function plots(report: ExperimentReport, snapshots: ExperimentReport[]): string {
  const captions: Record<string, string> = {
    metric: 'Cumulative value per variant at each analysis (all users exposed so far).',
    lift: 'Relative lift of each treatment over the control; the shaded band is the always-valid (sequential) confidence interval, valid whenever it is looked at. A band clear of the zero line is a significant difference. Early, very wide parts of a band are cut at the plot edge.',
  };
  return [
    '<h2>Over time</h2>',
    ...experimentPlots(report, snapshots).map((p) =>
      p.svg ? `<figure>${p.svg}<figcaption>${esc(captions[p.id]!)}</figcaption></figure>` : `<h3>${esc(p.title)}</h3><p class="note">${esc(p.note ?? '')}</p>`,
    ),
  ].join('\n');
}

/** The whole page. `data.report` null: a page saying there is nothing to report yet. */
export function renderExperimentHtml(data: ExperimentData, options: PageOptions): string {
  const report = data.report;
  const title = report ? `Experiment ${report.rollout} / ${report.experiment}` : 'Experiment report';
  const body: string[] = [`<h1>${esc(title)}</h1>`];
  if (!report) {
    body.push('<p class="note">This rollout has not run an A/B test with metrics yet: nothing to report.</p>');
  } else {
    body.push(
      `<p class="meta">Started ${report.startedAt === null ? '— (no exposure yet)' : isoMinute(report.startedAt)} · analysed ${isoMinute(report.at)} · ${data.snapshots.length} snapshot${data.snapshots.length === 1 ? '' : 's'}</p>`,
      summary(report),
      plots(report, data.snapshots),
    );
  }
  body.push(`<footer>Generated ${isoMinute(options.generatedAt)}${options.generator ? ` by ${esc(options.generator)}` : ''}.</footer>`);
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    ...body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
