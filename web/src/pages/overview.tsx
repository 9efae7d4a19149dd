/**
 * Every rollout in one table, live from the stream. Rendering stays cheap for hundreds of
 * rows: a row re-renders only when its summary object changed (the store replaces only the
 * rollouts an event named), and filtering is one pass over plain strings.
 */
import { Component } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import { time, weights } from '../format.js';
import { rolloutHref } from '../router.js';
import { useAppState } from '../store.js';
import type { RolloutSummary } from '../types.js';
import { Alert, Empty, Loading, ScrollBox } from '../ui.js';

type Filter = 'awaiting' | 'degraded' | 'progress';
const FILTERS: { id: Filter; label: string; test: (r: RolloutSummary) => boolean }[] = [
  { id: 'awaiting', label: 'Awaiting promotion / approval', test: (r) => r.awaiting !== undefined },
  { id: 'degraded', label: 'Degraded', test: (r) => r.phase === 'Degraded' },
  { id: 'progress', label: 'In progress', test: (r) => r.phase === 'Progressing' || r.phase === 'Paused' },
];

export function phaseClass(phase: string): string {
  return `phase phase-${phase.toLowerCase()}`;
}

export function stepText(r: { step?: number; steps?: number }): string {
  return r.step !== undefined && r.steps !== undefined && r.steps > 0 ? `${r.step}/${r.steps}` : '—';
}

class Row extends Component<{ r: RolloutSummary }> {
  override shouldComponentUpdate(next: { r: RolloutSummary }): boolean {
    return next.r !== this.props.r;
  }
  override render() {
    const { r } = this.props;
    const e = r.lastEvent;
    return (
      <tr data-rollout={r.name}>
        <th scope="row">
          <a href={rolloutHref(r.name)}>{r.name}</a>
        </th>
        <td>{r.environment ?? '—'}</td>
        <td>{r.strategy}</td>
        <td>
          <span class={phaseClass(r.phase)}>{r.phase}</span>
          {r.awaiting && <span class="badge">awaiting {r.awaiting}</span>}
        </td>
        <td class="num">{stepText(r)}</td>
        <td class="nowrap">{weights(r.weights)}</td>
        <td class="last-event">
          {e ? (
            <>
              <span class={e.type === 'Warning' ? 'warning' : undefined}>{e.reason}</span>: {e.message}{' '}
              <span class="muted">
                — {e.actor}, {time(e.at)}
              </span>
            </>
          ) : (
            '—'
          )}
        </td>
      </tr>
    );
  }
}

export function OverviewPage() {
  const rollouts = useAppState((s) => s.rollouts);
  const environments = useAppState((s) => s.environments);
  const loaded = useAppState((s) => s.overviewLoaded);
  const error = useAppState((s) => s.overviewError);
  const [active, setActive] = useState<ReadonlySet<Filter>>(new Set());
  const [query, setQuery] = useState('');

  const all = useMemo(() => [...rollouts.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)), [rollouts]);
  const shown = useMemo(() => {
    const q = query.trim().toLowerCase();
    const tests = FILTERS.filter((f) => active.has(f.id)).map((f) => f.test);
    return all.filter(
      (r) =>
        (tests.length === 0 || tests.some((t) => t(r))) &&
        (q === '' || `${r.name} ${r.environment ?? ''} ${r.service ?? ''} ${r.strategy} ${r.phase} ${r.version}`.toLowerCase().includes(q)),
    );
  }, [all, active, query]);

  // Environments applied as documents, and those rollouts name without one.
  const envs = useMemo(() => {
    const m = new Map<string, { name: string; description?: string; count: number; degraded: number }>();
    for (const e of environments) m.set(e.name, { name: e.name, description: e.spec?.description, count: 0, degraded: 0 });
    for (const r of all) {
      if (r.environment === undefined) continue;
      let e = m.get(r.environment);
      if (!e) m.set(r.environment, (e = { name: r.environment, count: 0, degraded: 0 }));
      e.count++;
      if (r.phase === 'Degraded') e.degraded++;
    }
    return [...m.values()].sort((a, b) => a.name.localeCompare(b.name));
  }, [environments, all]);

  const toggle = (id: Filter) =>
    setActive((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });

  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Rollouts</h1>
      {error && <Alert>{error}</Alert>}
      <div class="toolbar">
        <fieldset class="filters">
          <legend>Show only</legend>
          {FILTERS.map((f) => (
            <button key={f.id} type="button" class="toggle" aria-pressed={active.has(f.id)} onClick={() => toggle(f.id)}>
              {f.label} <span class="count">({all.filter(f.test).length})</span>
            </button>
          ))}
        </fieldset>
        <div class="search">
          <label for="search">Search</label>
          <input id="search" type="search" value={query} onInput={(e) => setQuery((e.target as HTMLInputElement).value)} placeholder="name, environment…" />
        </div>
      </div>
      {!loaded && !error ? (
        <Loading what="rollouts" />
      ) : all.length === 0 ? (
        <Empty>
          No rollouts yet. Apply one with <code>sluice apply -f rollout.yaml</code>; it shows up here at once.
        </Empty>
      ) : (
        <>
          <p class="muted" aria-live="polite">
            {shown.length === all.length ? `${all.length} rollouts` : `${shown.length} of ${all.length} rollouts`}
          </p>
          {shown.length === 0 ? (
            <Empty>No rollout matches these filters.</Empty>
          ) : (
            <ScrollBox label={'Rollouts table'}>
              <table class="rollouts" data-testid="rollouts">
                <caption class="sr-only">Rollouts</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Environment</th>
                    <th scope="col">Strategy</th>
                    <th scope="col">Phase</th>
                    <th scope="col">Step</th>
                    <th scope="col">Weights</th>
                    <th scope="col">Last event</th>
                  </tr>
                </thead>
                <tbody>
                  {shown.map((r) => (
                    <Row key={r.name} r={r} />
                  ))}
                </tbody>
              </table>
            </ScrollBox>
          )}
        </>
      )}
      <h2>Environments</h2>
      {envs.length === 0 ? (
        <Empty>No environments. Rollouts join one with metadata.environment; a kind: Environment document describes it.</Empty>
      ) : (
        <ul class="environments" data-testid="environments">
          {envs.map((e) => (
            <li key={e.name}>
              <strong>{e.name}</strong>
              {e.description && <span class="muted"> — {e.description}</span>}{' '}
              <span class="muted">
                ({e.count} rollout{e.count === 1 ? '' : 's'}
                {e.degraded > 0 ? `, ${e.degraded} degraded` : ''})
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
