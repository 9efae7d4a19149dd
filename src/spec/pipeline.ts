/**
 * `kind: Environment` and `kind: Pipeline` (issue 15; types in core/pipeline.ts, reference in
 * docs/pipelines.md). A pipeline's stages form a tree through `after` (the previous stage by
 * default): a cycle, an unknown `after`, two stages of one name, or a window in a time zone
 * this Node does not know is refused at load. Whether each stage's environment exists is
 * checked at apply (engine/pipelines/), where the stored environments are known.
 */
import type { ApprovalRule, ChecklistItem, DeploymentWindow, EnvironmentSpec, Freeze, PipelineSpec, StageSpec } from '../core/pipeline.js';
import { WEEKDAYS } from '../core/pipeline.js';
import { APPROVER_ROLE_PATTERN } from '../core/auth.js';
import { validTimeZone } from '../util/time-zone.js';
import { LIMITS } from './limits.js';
import {
  boolean,
  dnsLabel,
  documentHeader,
  duration,
  integer,
  listOf,
  map,
  nameValueMap,
  object,
  oneOf,
  optional,
  refine,
  required,
  string,
  text,
  withDefault,
  type Decoder,
} from './schema.js';

const TIME_ZONE: Decoder<string> = refine(string({ fix: 'write an IANA time zone, e.g. Europe/Madrid or UTC', maxLength: 64 }), (tz, fail) => {
  if (!validTimeZone(tz)) fail(`"${tz}" is not a time zone this Node knows`, 'write an IANA name, e.g. Europe/Madrid, America/New_York or UTC');
});
const CLOCK = string({ fix: 'write a 24-hour time HH:MM, e.g. "22:00"', pattern: /^([01]\d|2[0-3]):[0-5]\d$/, patternProblem: 'is not a time HH:MM' });
const DATE = refine(
  string({ fix: 'write a date YYYY-MM-DD, e.g. 2026-12-20', pattern: /^\d{4}-\d{2}-\d{2}$/, patternProblem: 'is not a date YYYY-MM-DD' }),
  (d, fail) => {
    const t = Date.parse(`${d}T00:00:00Z`);
    if (!Number.isFinite(t) || new Date(t).toISOString().slice(0, 10) !== d) fail(`"${d}" is not a calendar date`, 'write an existing date YYYY-MM-DD');
  },
);

const window: Decoder<DeploymentWindow> = refine(
  object({
    days: withDefault(listOf(oneOf(WEEKDAYS, 'write mon, tue, wed, thu, fri, sat or sun'), 'e.g. [mon, tue, wed, thu, fri]', 7), () => [...WEEKDAYS]),
    start: required(CLOCK, '"22:00"'),
    end: required(CLOCK, '"23:00"'),
    timeZone: required(TIME_ZONE, 'Europe/Madrid'),
  }),
  (w, fail) => {
    if (w.start === w.end)
      fail(`starts and ends at ${w.start}: the window is empty`, 'give an end other than the start (an end before the start spans midnight)', 'end');
    if (w.days.length === 0) fail('has no days', 'list the days it is open, e.g. [mon, tue, wed, thu, fri]', 'days');
    if (new Set(w.days).size !== w.days.length) fail('names a day twice', 'list each day once', 'days');
  },
) as Decoder<DeploymentWindow>;

const freeze: Decoder<Freeze> = refine(
  object({
    from: required(DATE, '2026-12-20'),
    to: required(DATE, '2027-01-06'),
    timeZone: withDefault(TIME_ZONE, 'UTC'),
    reason: optional(text('write why, e.g. year-end freeze')),
  }),
  (f, fail) => {
    if (f.to < f.from) fail(`ends (${f.to}) before it starts (${f.from})`, 'swap from and to', 'to');
  },
) as Decoder<Freeze>;

const approval: Decoder<ApprovalRule> = object({
  role: required(
    string({
      fix: 'write a role name: lowercase letters, digits and "-", e.g. qa or tech-lead',
      pattern: APPROVER_ROLE_PATTERN,
      patternProblem: 'is not a role name',
    }),
    'qa',
  ),
  count: withDefault(integer({ min: 1, max: 20, fix: 'write how many people of that role must approve, 1 to 20' }), 1),
  blocking: withDefault(boolean('write true (required) or false (recorded, never waited for)'), true),
});

const checklistItem: Decoder<ChecklistItem> = object({
  name: required(text('write what must be true, e.g. database backup created', 200), 'team on standby'),
  check: optional(oneOf(['database-backup', 'rollback-plan', 'analysis', 'smoke-tests'] as const, 'leave check out for an item a person ticks')),
}) as Decoder<ChecklistItem>;

const stage: Decoder<StageSpec> = map(
  refine(
    object({
      name: required(dnsLabel(), 'production'),
      environment: required(dnsLabel(), 'production'),
      after: optional(dnsLabel()),
      entry: withDefault(oneOf(['auto', 'manual'] as const), 'auto' as const),
      requiredSoakTime: withDefault(duration({ min: 0, max: 30 * 86400 }), 0),
      approvals: withDefault(listOf(approval, 'e.g. [{role: qa}, {role: tech-lead}]', 20), []),
      selfApproval: optional(boolean('write true to let the release creator approve it, false to refuse that')),
      windows: withDefault(listOf(window, 'e.g. [{days: [mon, tue, wed, thu, fri], start: "22:00", end: "23:00", timeZone: Europe/Madrid}]', 20), []),
      freezes: withDefault(listOf(freeze, 'e.g. [{from: 2026-12-20, to: 2027-01-06, reason: year-end}]', 50), []),
      checklist: withDefault(listOf(checklistItem, 'e.g. [{name: database backup created, check: database-backup}, {name: team on standby}]', 50), []),
    }),
    (s, fail) => {
      // One rule per role: two would ask for the same people twice, and which count wins would be a guess.
      const roles = s.approvals.map((a) => a.role);
      const role = roles.find((r, i) => roles.indexOf(r) !== i);
      if (role !== undefined) fail(`asks role "${role}" twice`, 'give each role one rule and set its count, e.g. {role: qa, count: 2}', 'approvals');
      // A ticked item is recorded by its name: two items of one name would be ticked together.
      const items = s.checklist.map((c) => c.name);
      const item = items.find((n, i) => items.indexOf(n) !== i);
      if (item !== undefined) fail(`names item "${item}" twice`, 'give each checklist item its own name', 'checklist');
    },
  ),
  (s) => ({
    name: s.name,
    environment: s.environment,
    ...(s.after ? { after: s.after } : {}),
    entry: s.entry,
    requiredSoakSeconds: s.requiredSoakTime,
    approvals: s.approvals,
    selfApproval: s.selfApproval ?? false,
    windows: s.windows,
    freezes: s.freezes,
    checklist: s.checklist,
  }),
);

/** `kind: Pipeline`. */
export function pipelineDocument(): Decoder<PipelineSpec> {
  return map(
    object({
      ...documentHeader('web'),
      spec: required(
        refine(
          object({
            services: required(listOf(dnsLabel(), 'list the services a release carries, in deploy order, e.g. [api, worker]', 50), '[api]'),
            stages: required(
              listOf(stage, 'e.g. [{name: staging, environment: staging}, {name: production, environment: production}]', LIMITS.listItems),
              '[…]',
            ),
          }),
          (p, fail) => {
            if (p.services.length === 0) fail('is empty', 'list at least one service (a rollout’s metadata.service, or its name)', 'services');
            if (new Set(p.services).size !== p.services.length) fail('names a service twice', 'list each service once', 'services');
            if (p.stages.length === 0) fail('is empty', 'add at least one stage: {name: staging, environment: staging}', 'stages');
            checkStages(p.stages, (problem, fix) => fail(problem, fix, 'stages'));
          },
        ),
        '{services: [api], stages: [{name: staging, environment: staging}]}',
      ),
    }),
    (d) => ({
      name: d.metadata.name,
      services: d.spec.services,
      stages: d.spec.stages.map((s, i, all) => (i > 0 && s.after === undefined ? { ...s, after: all[i - 1]!.name } : s)),
    }),
  );
}

/** Unique names, every `after` a stage of the pipeline, no cycle (following `after` from any stage ends at a first stage). */
function checkStages(stages: readonly StageSpec[], fail: (problem: string, fix: string) => never): void {
  const byName = new Map<string, StageSpec>();
  for (const s of stages) {
    if (byName.has(s.name)) fail(`stage "${s.name}" is defined twice`, 'give each stage its own name');
    byName.set(s.name, s);
  }
  const upstream = (s: StageSpec, i: number) => s.after ?? (i > 0 ? stages[i - 1]!.name : undefined);
  stages.forEach((s, i) => {
    const after = upstream(s, i);
    if (after !== undefined && !byName.has(after))
      fail(`stage "${s.name}" comes after "${after}", which is not a stage here`, `use one of ${[...byName.keys()].join(', ')}`);
  });
  const index = new Map(stages.map((s, i) => [s.name, i]));
  for (const [i, s] of stages.entries()) {
    const seen = [s.name];
    for (let at = upstream(s, i); at !== undefined; at = upstream(byName.get(at)!, index.get(at)!)) {
      if (seen.includes(at))
        fail(`stages form a cycle: ${[...seen, at].join(' → ')}`, 'make one stage the first (no after) and point every other one at an earlier stage');
      seen.push(at);
    }
  }
}

/** `kind: Environment`. */
export function environmentDocument(): Decoder<EnvironmentSpec> {
  return map(
    object({
      ...documentHeader('staging'),
      spec: withDefault(
        object({
          description: optional(text('write what this environment is for', 500)),
          env: withDefault(nameValueMap('environment variable', /^[A-Za-z_][A-Za-z0-9_]*$/, 'write env as NAME: value lines'), {}),
        }),
        () => ({ env: {} }) as { description?: string; env: Record<string, string> },
      ),
    }),
    (d) => ({ name: d.metadata.name, ...(d.spec.description ? { description: d.spec.description } : {}), env: d.spec.env }),
  );
}
