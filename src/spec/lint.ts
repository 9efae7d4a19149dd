import { existsSync } from 'node:fs';
import { readSpecFile } from './source.js';
import { commandExists } from './command-path.js';
import { UserError } from '../util/errors.js';
import { loadResources, type LoadedResource, type LoadedRollout } from './load.js';
import { flagRecords, type LoadedFlagSet } from './flags.js';
import { compileFlag } from '../flags/compile.js';
import { resolveSurgeAndUnavailable } from './resolve.js';
import { dataPlaneNamed } from '../dataplane/registry.js';

export interface LintResult {
  /** The file loaded without error (warnings do not make it fail). */
  ok: boolean;
  rollouts: LoadedRollout[];
  /** Every flag of the file as flagd will evaluate it when first applied (`sluice lint` prints the targeting). */
  flags: LintedFlag[];
  warnings: string[];
  /** The one-line load error when `ok` is false. */
  error?: string;
}

export interface LintedFlag {
  name: string;
  line: number;
  /** The flagd targeting its spec compiles to (the sugar expanded); absent: everyone gets defaultVariant. */
  targeting?: unknown;
  defaultVariant: string;
}

/** A loaded file's rollouts and flags, flags compiled with a fresh state (not killed, the spec's percentage). */
export function lintResources(resources: readonly LoadedResource[]): Omit<LintResult, 'ok' | 'error'> {
  const rollouts = resources.flatMap((r) => (r.kind === 'Rollout' ? [{ spec: r.value, source: r.source, file: r.file, line: r.line }] : []));
  const flags: LintedFlag[] = [];
  const warnings = [...resources.flatMap((r) => r.warnings ?? []), ...rollouts.flatMap(lintRollout)];
  for (const r of resources) {
    if (r.kind !== 'FeatureFlag' && r.kind !== 'FeatureFlags') continue;
    const set = r.value as LoadedFlagSet;
    for (const record of flagRecords(set, r.source, 0)) {
      const compiled = compileFlag(record);
      const line = set.lines[record.name] ?? r.line;
      flags.push({
        name: record.name,
        line,
        defaultVariant: record.spec.defaultVariant,
        ...(compiled.targeting !== undefined ? { targeting: compiled.targeting } : {}),
      });
      const { lifecycle } = record.spec;
      const warn = (field: string, risk: string, fix: string) => warnings.push(`${r.file}:${line}: flag "${record.name}": ${field}: ${risk} — ${fix}`);
      if (!lifecycle.owner && !lifecycle.permanent) warn('owner', 'is not set, so `sluice flags stale` cannot say whom to ask', 'add owner: your-team');
      if (lifecycle.expires !== undefined && lifecycle.expires <= Date.now())
        warn('expires', 'is in the past, so the flag is stale already', 'remove the flag from the code, or move expires');
    }
  }
  return { rollouts, flags, warnings };
}

/** Load a manifest file and list what is valid but risky. Never throws a UserError. */
export function lintFile(path: string): LintResult {
  let text: string;
  try {
    text = readSpecFile(path);
  } catch (err) {
    if (err instanceof UserError) return { ok: false, rollouts: [], flags: [], warnings: [], error: err.message };
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    return { ok: false, rollouts: [], flags: [], warnings: [], error: `${path}: cannot read: ${reason} — check the path` };
  }
  try {
    return { ok: true, ...lintResources(loadResources(text, path)) };
  } catch (err) {
    if (err instanceof UserError) return { ok: false, rollouts: [], flags: [], warnings: [], error: err.message };
    throw err;
  }
}

/** Warnings for one loaded rollout, each "file:line: name: what is risky — what to do". */
export function lintRollout(r: LoadedRollout): string[] {
  const { spec } = r;
  const out: string[] = [];
  const warn = (field: string, risk: string, fix: string) => out.push(`${r.file}:${r.line}: rollout "${spec.name}": ${field}: ${risk} — ${fix}`);
  const s = spec.strategy;

  if (spec.replicas === 0) warn('spec.replicas', 'is 0, so nothing will serve traffic', 'set replicas to 1 or more');
  if (!spec.template.probes.readiness.httpGet && !spec.template.probes.readiness.exec && spec.template.probes.readiness.tcpSocket) {
    warn('spec.template.probes.readiness', 'only checks that the port is open, not that the app works', 'add httpGet: {path: /healthz} (or your health path)');
  }
  const command = spec.template.command;
  if (command !== undefined && !commandExists(command, spec.template.cwd)) {
    warn(
      'spec.template.command',
      `${JSON.stringify(command)} is not found ${command.includes('/') ? 'or not executable' : 'on PATH'}, so every instance would fail to start ("command not found")`,
      'install it, fix the name, or give its full path',
    );
  }
  for (const [name, ref] of Object.entries(spec.template.secretEnv ?? {})) {
    if ('file' in ref && !existsSync(ref.file)) {
      warn(`spec.template.secretEnv.${name}`, `${ref.file} does not exist (yet)`, 'create it before the rollout starts; instances cannot start without it');
    }
  }
  if (spec.template.cwd && !existsSync(spec.template.cwd)) {
    warn('spec.template.cwd', `${spec.template.cwd} does not exist (yet)`, 'create it or fix the path; it is relative to this file');
  }

  if (s.type === 'rolling' && spec.replicas > 0) {
    const { unavailable } = resolveSurgeAndUnavailable(s.maxSurge, s.maxUnavailable, spec.replicas);
    if (unavailable >= spec.replicas) {
      warn(
        'spec.strategy.rolling.maxUnavailable',
        `lets all ${spec.replicas} instance(s) be down at once, so the update can cause downtime`,
        'set maxUnavailable: 0 and maxSurge: 1, or raise replicas',
      );
    }
  }
  if (s.type === 'canary') {
    if (s.steps.length === 0) {
      warn('spec.strategy.canary.steps', 'is empty, so a new version gets 100% of traffic at once', 'add steps, e.g. [{setWeight: 20}, {pause: {}}]');
    } else if (!s.steps.some((step) => 'pause' in step)) {
      warn(
        'spec.strategy.canary.steps',
        'has no pause, so traffic reaches 100% before anyone can look at the canary',
        'add a pause step, e.g. {pause: {duration: 1m}}',
      );
    }
  }
  if (s.type === 'blueGreen' && s.autoPromotionEnabled && !s.previewListen) {
    warn(
      'spec.strategy.blueGreen',
      'promotes automatically and has no previewListen, so the new version takes all traffic untested',
      'set previewListen, or autoPromotionEnabled: false to promote by hand',
    );
  }
  const UNSAFE = ['POST', 'PUT', 'PATCH', 'DELETE'];
  const mirrors =
    s.type === 'shadow'
      ? [{ at: 'spec.strategy.shadow.mirror', m: s.mirror }]
      : s.type === 'canary'
        ? s.steps.flatMap((step, i) => ('setMirrorRoute' in step ? [{ at: `spec.strategy.canary.steps[${i}].setMirrorRoute`, m: step.setMirrorRoute }] : []))
        : [];
  for (const { at, m } of mirrors) {
    const unsafe = (m.match?.methods ?? []).filter((x) => UNSAFE.includes(x));
    if (unsafe.length > 0) {
      warn(
        `${at}.match.methods`,
        `copies ${unsafe.join(', ')} requests, so the shadow performs every such write a second time`,
        'mirror only GET/HEAD/OPTIONS unless the shadow writes to nothing shared',
      );
    }
  }
  if (dataPlaneNamed(spec.traffic.router)?.comparesMirrors === false && mirrors.some(({ m }) => m.compare)) {
    warn(
      'spec.traffic.router',
      `is ${spec.traffic.router}, which copies requests but cannot compare answers, so mismatch-rate sees nothing`,
      'use the builtin router for releases that compare a shadow',
    );
  }
  if (s.type === 'shadow' && !s.analysis && !s.mirror.compare) {
    warn(
      'spec.strategy.shadow',
      'neither compares answers nor runs analysis, so the shadow revision takes over without any check',
      'add mirror.compare and an analysis on the builtin mismatch-rate',
    );
  }
  return out;
}
