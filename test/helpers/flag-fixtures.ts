import type { FlagdDocument, FlagPlane, FlagPush, FlagRecord, FlagSpec, FlagUsage } from '../../src/core/flags.js';

export const DAY = 24 * 60 * 60 * 1000;

/** A boolean flag spec with `enable` sugar (variant on), defaults as the decoder gives them. */
export function flagSpec(name: string, extra: Partial<FlagSpec> = {}): FlagSpec {
  return {
    name,
    type: 'boolean',
    state: 'ENABLED',
    variants: { on: true, off: false },
    defaultVariant: 'off',
    offVariant: 'off',
    enable: { variant: 'on', percentage: 10 },
    metadata: {},
    lifecycle: { permanent: false, owner: 'team-a' },
    ...extra,
  };
}

export function flagRecord(name: string, createdAt: number, extra: Partial<FlagSpec> = {}, state: Partial<FlagRecord['state']> = {}): FlagRecord {
  return { name, spec: flagSpec(name, extra), source: `name: ${name}`, evaluators: {}, state: { killed: false, updatedAt: createdAt, ...state }, createdAt };
}

/** A data plane that records pushes; `failing` makes them reject; `usage` is what flagUsage answers. */
export class RecordingFlagPlane implements FlagPlane {
  pushes: FlagPush[] = [];
  failing = false;
  usage: FlagUsage[] = [];
  async pushFlags(push: FlagPush): Promise<void> {
    if (this.failing) throw new Error('connection refused');
    this.pushes.push(structuredClone(push));
  }
  async flagUsage(): Promise<FlagUsage[]> {
    return structuredClone(this.usage);
  }
}

/** A compile that keeps only what the controller's tests read (state, variants, the variant served by default), independent of the sugar's JsonLogic. */
export const stubCompile = (records: readonly FlagRecord[]): FlagdDocument => ({
  flags: Object.fromEntries(
    records.map((r) => [
      r.name,
      { state: r.spec.state, variants: r.spec.variants, defaultVariant: r.state.killed ? r.spec.offVariant : r.spec.defaultVariant },
    ]),
  ),
});
