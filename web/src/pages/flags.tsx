/** Feature flags: state, percentage, owner, staleness; the kill switch, restore, percentage; history. */
import { useEffect, useState } from 'preact/hooks';
import { api, get, seg } from '../api.js';
import { time } from '../format.js';
import { onStream } from '../live.js';
import { useAppState } from '../store.js';
import type { FlagList, FlagSummary, RolloutEvent, StaleFlag } from '../types.js';
import { Alert, DisabledReason, Empty, ErrorLine, Loading, confirmAction, roleReason, useLoad, ScrollBox } from '../ui.js';

function ReasonField({ values, set }: { values: Record<string, string>; set: (n: string, v: string) => void }) {
  return (
    <p class="field">
      <label for="confirm-reason">Reason (recorded in the flag's history)</label>
      <input id="confirm-reason" type="text" value={values.reason ?? ''} onInput={(e) => set('reason', (e.target as HTMLInputElement).value)} />
    </p>
  );
}

function History({ name, epoch }: { name: string; epoch: number }) {
  const [history] = useLoad(() => get<RolloutEvent[]>(`/v1/flags/${seg(name)}/history`), [name, epoch]);
  return (
    <section aria-labelledby="flag-history-title" class="card" data-testid="flag-history">
      <h2 id="flag-history-title">History of {name}</h2>
      {history.state === 'loading' ? (
        <Loading what="history" />
      ) : history.state === 'error' ? (
        <ErrorLine error={history.error} />
      ) : history.state === 'off' ? (
        <Empty>{history.message}</Empty>
      ) : history.data.length === 0 ? (
        <Empty>Nothing changed on this flag yet.</Empty>
      ) : (
        <ol class="events">
          {[...history.data]
            .sort((a, b) => b.id - a.id)
            .map((e) => (
              <li key={e.id}>
                <time dateTime={new Date(e.at).toISOString()}>{time(e.at)}</time>{' '}
                <strong class={e.type === 'Warning' ? 'warning' : undefined}>{e.reason}</strong> {e.message} <span class="actor">by {e.actor}</span>
              </li>
            ))}
        </ol>
      )}
    </section>
  );
}

export function FlagsPage() {
  const epoch = useAppState((s) => s.epoch);
  const session = useAppState((s) => s.session);
  const [tick, setTick] = useState(0);
  const [list, reload] = useLoad(() => get<FlagList>('/v1/flags'), [epoch, tick]);
  const [stale] = useLoad(() => get<StaleFlag[]>('/v1/flags-stale'), [epoch, tick]);
  const [selected, setSelected] = useState<string | undefined>(undefined);
  useEffect(() => onStream('flags', () => setTick((t) => t + 1)), []);
  const reason = roleReason(session, 'deploy');
  const staleOf = new Map((stale.state === 'ok' && Array.isArray(stale.data) ? stale.data : []).map((s) => [s.name, s]));

  const kill = (f: FlagSummary) =>
    confirmAction({
      title: f.killed ? `Restore flag ${f.name}?` : `Kill flag ${f.name}?`,
      description: f.killed
        ? `Serve ${f.name} by its rules again (its targeting and percentage), instead of the off variant to everyone.`
        : `Serve the off variant of ${f.name} to everyone, at once, until it is restored.`,
      danger: !f.killed,
      fields: (values, set) => <ReasonField values={values} set={set} />,
      run: (v) => api('POST', `/v1/flags/${seg(f.name)}/${f.killed ? 'restore' : 'kill'}`, v.reason ? { reason: v.reason } : {}),
      done: reload,
    });

  const percentage = (f: FlagSummary) =>
    confirmAction({
      title: `Set the percentage of ${f.name}`,
      description: `Choose the share of matching users who get the flag's enabled variant${f.percentage !== undefined ? ` (now ${f.percentage}%)` : ''}. Raising it only adds users.`,
      initial: { percentage: String(f.percentage ?? 0) },
      fields: (values, set) => (
        <>
          <p class="field">
            <label for="confirm-percentage">Percentage (0–100)</label>
            <input
              id="confirm-percentage"
              type="number"
              min={0}
              max={100}
              step="any"
              required
              value={values.percentage ?? ''}
              onInput={(e) => set('percentage', (e.target as HTMLInputElement).value)}
            />
          </p>
          <ReasonField values={values} set={set} />
        </>
      ),
      run: (v) => {
        const p = Number(v.percentage);
        if (v.percentage === undefined || v.percentage.trim() === '' || !Number.isFinite(p) || p < 0 || p > 100)
          return Promise.reject(new Error('the percentage must be a number from 0 to 100'));
        return api('PUT', `/v1/flags/${seg(f.name)}/percentage`, { percentage: p, ...(v.reason ? { reason: v.reason } : {}) });
      },
      done: reload,
    });

  return (
    <section aria-labelledby="flags-title" data-testid="flags">
      <h1 id="flags-title">Feature flags</h1>
      {list.state === 'loading' ? (
        <Loading what="flags" />
      ) : list.state === 'off' ? (
        <Empty>Feature flags are not served by this control plane ({list.message}).</Empty>
      ) : list.state === 'error' ? (
        <ErrorLine error={list.error} />
      ) : list.data.flags.length === 0 ? (
        <Empty>
          No feature flags yet. Apply a <code>kind: FeatureFlag</code> document with <code>sluice apply -f flags.yaml</code>.
        </Empty>
      ) : (
        <>
          {list.data.push.error && <Alert>Flags could not be pushed to the data plane: {list.data.push.error}</Alert>}
          {stale.state === 'error' && <ErrorLine error={stale.error} />}
          <ScrollBox label={'Feature flags table'}>
            <table class="flags">
              <caption class="sr-only">Feature flags</caption>
              <thead>
                <tr>
                  <th scope="col">Flag</th>
                  <th scope="col">State</th>
                  <th scope="col">Percentage</th>
                  <th scope="col">Ramp</th>
                  <th scope="col">Owner</th>
                  <th scope="col">Stale</th>
                  <th scope="col">Evaluations</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {[...list.data.flags]
                  .sort((a, b) => a.name.localeCompare(b.name))
                  .map((f) => {
                    const s = staleOf.get(f.name);
                    return (
                      <tr key={f.name} data-flag={f.name}>
                        <th scope="row">
                          {f.name} <span class="muted">({f.type})</span>
                        </th>
                        <td>{f.killed ? <span class="phase phase-degraded">killed</span> : <span class="phase phase-healthy">serving</span>}</td>
                        <td class="num">{f.percentage !== undefined ? `${f.percentage}%` : '—'}</td>
                        <td>{f.ramp ?? '—'}</td>
                        <td>{f.owner ?? '—'}</td>
                        <td>
                          {s ? (
                            <span class="badge stale" title={s.reasons.join('; ')}>
                              stale: {s.reasons[0] ?? 'yes'}
                            </span>
                          ) : (
                            '—'
                          )}
                        </td>
                        <td class="num">
                          {f.evaluations}
                          {f.lastEvaluatedAt && <span class="muted"> (last {time(f.lastEvaluatedAt)})</span>}
                        </td>
                        <td class="row-actions">
                          <button type="button" class={f.killed ? undefined : 'danger'} disabled={reason !== undefined} onClick={() => kill(f)}>
                            {f.killed ? 'Restore' : 'Kill switch'}
                            <span class="sr-only"> {f.name}</span>
                          </button>
                          <button type="button" disabled={reason !== undefined} onClick={() => percentage(f)}>
                            Set percentage<span class="sr-only"> of {f.name}</span>
                          </button>
                          <button type="button" aria-pressed={selected === f.name} onClick={() => setSelected(selected === f.name ? undefined : f.name)}>
                            History<span class="sr-only"> of {f.name}</span>
                          </button>
                        </td>
                      </tr>
                    );
                  })}
              </tbody>
            </table>
          </ScrollBox>
          <DisabledReason reason={reason} />
          {selected ? <History name={selected} epoch={epoch + tick} /> : <p class="muted">Choose History on a flag to see who changed it and why.</p>}
        </>
      )}
    </section>
  );
}
