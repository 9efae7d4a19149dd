/** The experiment report page and its SVG plots (src/experiments/report/): structure, escaping, snapshot counts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ExperimentReport } from '../../src/core/experiment.js';
import { pValue, pct, pctInterval, signedPct, num } from '../../src/experiments/report/format.js';
import { renderExperimentHtml } from '../../src/experiments/report/html.js';
import { escapeMarkdown, renderExperimentMarkdown } from '../../src/experiments/report/markdown.js';
import { escapeXml, lineChart, niceTicks } from '../../src/experiments/report/svg.js';
import { experimentSeries, freshReport } from '../helpers/experiment-fixtures.js';

const PAGE = { generatedAt: Date.UTC(2025, 0, 16), generator: 'sluice 0.0.0' };
const VOID = new Set(['meta', 'br', 'link', 'img', 'hr', 'input', 'col', 'source']);

/** Every element closed in order (void elements and `<x/>` excepted); returns the open/close count per tag. */
function checkBalanced(html: string): Map<string, number> {
  const stack: string[] = [];
  const seen = new Map<string, number>();
  const body = html.replace(/<!doctype[^>]*>/i, '').replace(/<\?xml[^>]*\?>/, '');
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][\w:-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>/g)) {
    const [, closing, rawName, rest] = m;
    const name = rawName!.toLowerCase();
    if (closing) {
      assert.equal(stack.pop(), name, `</${name}> closes <${stack.at(-1) ?? 'nothing'}> at ${m.index}`);
      continue;
    }
    seen.set(name, (seen.get(name) ?? 0) + 1);
    if (VOID.has(name) || rest!.trimEnd().endsWith('/')) continue;
    stack.push(name);
  }
  assert.deepEqual(stack, [], 'unclosed elements');
  // Nothing that looks like a tag was left out by the pattern above.
  assert.equal((body.match(/</g) ?? []).length, (body.match(/<(\/?)([a-zA-Z][\w:-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>/g) ?? []).length, 'a stray <');
  return seen;
}

function svgs(html: string): string[] {
  return [...html.matchAll(/<svg[\s\S]*?<\/svg>/g)].map((m) => m[0]);
}

test('the page: balanced tags, the summary tables with the status numbers, two plots with one line per variant, a band per treatment, axes, legend', () => {
  const data = experimentSeries({ variants: 3, concluded: true });
  const html = renderExperimentHtml(data, PAGE);
  const tags = checkBalanced(html);
  assert.equal(tags.get('svg'), 2);
  assert.equal(tags.get('table'), 6, 'variants, 2 × (values, comparisons), guardrails');
  assert.doesNotMatch(html, /<script|<link|src=|href=|@import|url\((?!#)/i, 'self-contained, no script');
  assert.match(html, /<title>Experiment checkout \/ r2a0<\/title>/);
  const report = data.report;
  const c = report.metrics[0]!.comparisons[0]!;
  assert.ok(html.includes(`<td>${signedPct(c.relative.estimate)}</td><td>${pctInterval(c.sequential.relative)}</td><td>${pValue(c.fixed.pValue)}</td>`));
  assert.ok(html.includes(`<td>${pct(report.metrics[0]!.variants[1]!.mean)}</td><td>${num(report.metrics[0]!.variants[1]!.sd)}</td>`));
  assert.match(html, /<strong>Concluded:<\/strong> (SHIP|manual) B at 2025-01-15 09:01Z by alice@laptop/);
  assert.match(html, /Sample ratio check:<\/strong> <span class="ok">ok<\/span>/);

  const [metric, lift] = svgs(html);
  assert.equal((metric!.match(/class="series"/g) ?? []).length, 3, 'one line per variant');
  assert.equal((metric!.match(/class="band"/g) ?? []).length, 0);
  assert.match(metric!, />conversion rate \(cumulative\)</);
  assert.match(metric!, />days since the test started</);
  assert.match(metric!, />A \(control\)<\/text>/);
  assert.equal((lift!.match(/class="series"/g) ?? []).length, 2, 'one line per treatment');
  assert.equal((lift!.match(/<polygon class="band"/g) ?? []).length, 2, 'a band per treatment');
  assert.match(lift!, /class="zero"/);
  assert.match(lift!, />relative lift</);
  assert.match(lift!, />B vs A<\/text>/);
  assert.match(lift!, />C vs A<\/text>/);
  // Every line has one point per snapshot; ticks are labelled as percentages and days.
  const d = /<path class="series" d="([^"]+)"/.exec(metric!)![1]!;
  assert.equal(d.split(/[ML]/).filter(Boolean).length, data.snapshots.length);
  assert.match(metric!, />5%<\/text>/);
  assert.match(lift!, />\+10%<\/text>/);
  assert.match(lift!, />0%<\/text>/);
  assert.match(metric!, />14d<\/text>/);
  // Treatments keep their variant's colour across the two plots.
  const colour = (svg: string, label: string) => new RegExp(`stroke="(#[0-9A-F]{6})"[^>]*/>\\s*<text[^>]*>${label}</text>`).exec(svg)?.[1];
  assert.equal(colour(metric!, 'B'), colour(lift!, 'B vs A'));
  assert.equal(colour(metric!, 'C'), colour(lift!, 'C vs A'));
  assert.notEqual(colour(metric!, 'B'), colour(metric!, 'C'));
});

test('names, reasons and actors are escaped everywhere: no markup from a rollout, metric or variant name', () => {
  const evil = '<script>alert("x")</script>';
  const data = experimentSeries({ rollout: `web${evil}`, metricName: `"><img src=x onerror=alert(1)><script>`, concluded: true });
  const rename = (r: ExperimentReport) => {
    for (const v of r.variants) if (v.variant === 'B') v.variant = `B</td></tr></table><script>`;
    for (const m of r.metrics) {
      for (const v of m.variants) if (v.variant === 'B') v.variant = `B</td></tr></table><script>`;
      for (const c of m.comparisons) c.variant = `B</td></tr></table><script>`;
    }
    for (const g of r.guardrails) g.violated = `<b>bold</b> & 'quoted'`;
    r.recommendation.reason = `because <script>steal()</script> & more`;
  };
  data.snapshots.forEach(rename);
  data.report.concluded!.by = '<svg onload=alert(1)>';
  const html = renderExperimentHtml(data, PAGE);
  checkBalanced(html);
  assert.doesNotMatch(html, /<script/i);
  assert.doesNotMatch(html, /<img/i);
  assert.doesNotMatch(html, /<b>bold/);
  assert.equal(svgs(html).length, 2);
  assert.ok(html.includes('web&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'));
  assert.ok(html.includes('because &lt;script&gt;steal()&lt;/script&gt; &amp; more'));
  assert.ok(html.includes('&lt;svg onload=alert(1)&gt;'));
  assert.ok(html.includes('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;'));

  const { markdown, files } = renderExperimentMarkdown(data, { ...PAGE, base: 'r' });
  assert.doesNotMatch(markdown, /<script|<img/i);
  assert.ok(markdown.includes('# Experiment web&lt;script&gt;alert("x")&lt;/script&gt; / r2a0'));
  assert.ok(markdown.includes('because &lt;script&gt;steal()&lt;/script&gt; &amp; more'));
  for (const f of files) {
    checkBalanced(f.content);
    assert.doesNotMatch(f.content, /<script/i);
  }
  // A name with | cannot add a column to a Markdown table.
  assert.equal(escapeMarkdown('a|b'), 'a\\|b');
});

test('0 and 1 snapshots: a note instead of a plot; no report: a page saying so', () => {
  const { report, snapshots } = experimentSeries({ days: 1, snapshots: 1 });
  for (const [n, list] of [
    [0, []],
    [1, snapshots],
  ] as const) {
    const html = renderExperimentHtml({ report, snapshots: [...list] }, PAGE);
    checkBalanced(html);
    assert.equal(svgs(html).length, 0, `${n} snapshots`);
    assert.match(html, n === 0 ? /No snapshots stored yet/ : /Only one snapshot so far: the plots need at least two points in time/);
    assert.match(html, /<h2>Variants<\/h2>/, 'the tables are still there');
    const md = renderExperimentMarkdown({ report, snapshots: [...list] }, { ...PAGE, base: 'x' });
    assert.equal(md.files.length, 0);
  }
  const fresh = freshReport();
  const early = renderExperimentHtml({ report: fresh, snapshots: [freshReport(), fresh] }, PAGE);
  checkBalanced(early);
  assert.doesNotMatch(early, /NaN|null|undefined|Infinity/);
  assert.match(early, /Started — \(no exposure yet\)/);
  assert.equal(svgs(early).length, 0, 'no empty plot');
  assert.equal((early.match(/Not enough data yet: no variant has a value at two points in time\./g) ?? []).length, 2);
  const none = renderExperimentHtml({ report: null, snapshots: [] }, PAGE);
  checkBalanced(none);
  assert.match(none, /has not run an A\/B test with metrics yet/);
});

test('500 snapshots over a short test (hours on the axis): one point each, a modest page', () => {
  const data = experimentSeries({ days: 1, snapshots: 500, dailyUsers: 40_000 });
  const t0 = performance.now();
  const html = renderExperimentHtml(data, PAGE);
  const ms = performance.now() - t0;
  checkBalanced(html);
  const [metric, lift] = svgs(html);
  for (const svg of [metric!, lift!]) {
    const d = /<path class="series" d="([^"]+)"/.exec(svg)![1]!;
    assert.equal(d.split(/[ML]/).filter(Boolean).length, 500);
  }
  assert.match(metric!, />hours since the test started</);
  assert.ok(html.length < 400_000, `${html.length} bytes`);
  assert.ok(ms < 2000, `${ms} ms`);
});

test('lineChart and ticks: nice steps, a single x value, non-finite points skipped', () => {
  assert.deepEqual(niceTicks(0.042, 0.058).ticks, [0.042, 0.044, 0.046, 0.048, 0.05, 0.052, 0.054, 0.056, 0.058]);
  assert.deepEqual(niceTicks(-0.1, 0.4).ticks, [-0.1, 0, 0.1, 0.2, 0.3, 0.4]);
  assert.deepEqual(niceTicks(3, 3).ticks.length > 1, true);
  const svg = lineChart({
    id: 'c',
    title: 'A & B',
    xLabel: 'x',
    yLabel: 'y',
    xFormat: String,
    yFormat: String,
    series: [
      {
        label: 'one',
        points: [
          { x: 0, y: 1 },
          { x: 1, y: Number.NaN },
          { x: 2, y: 3 },
        ],
        band: [
          { x: 0, lower: Number.NEGATIVE_INFINITY, upper: 2 },
          { x: 1, lower: 0, upper: 2 },
          { x: 2, lower: 1, upper: 4 },
        ],
      },
    ],
    zeroLine: true,
  });
  checkBalanced(svg);
  assert.match(svg, /<title id="c-title">A &amp; B<\/title>/);
  assert.doesNotMatch(svg, /NaN|Infinity/);
  assert.equal(/<path class="series" d="([^"]+)"/.exec(svg)![1]!.split(/[ML]/).filter(Boolean).length, 2);
  assert.equal(escapeXml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});

test('number formats: percentages with 2 decimals, p-values, intervals', () => {
  assert.equal(pct(0.05123), '5.12%');
  assert.equal(signedPct(0.1), '+10.00%');
  assert.equal(signedPct(-0.031), '-3.10%');
  assert.equal(signedPct(0), '0.00%');
  assert.equal(pctInterval({ lower: 0.0231, upper: 0.178 }), '[+2.31%, +17.80%]');
  assert.equal(pValue(0.01234), '0.0123');
  assert.equal(pValue(0.00003), '3.0e-5');
  assert.equal(pValue(1e-15), '<1e-12');
  assert.equal(pValue(1), '1.0000');
  assert.equal(num(3.0049), '3.005');
  assert.equal(num(12345.6), '12,346');
  assert.equal(pct(Number.NaN), '-');
});
