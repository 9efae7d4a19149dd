/** Releases across the stages of each pipeline, approvals (approve / reject by role), windows and freezes. */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, get, seg } from '../api.js';
import { time } from '../format.js';
import { onStream } from '../live.js';
import { useAppState } from '../store.js';
import type { ApprovalRow, EnvironmentRecord, PipelineRecord, ReleaseStageState, ReleaseView, SessionInfo } from '../types.js';
import { Empty, ErrorLine, Loading, confirmAction, useLoad, ScrollBox } from '../ui.js';

interface PipelineData {
  pipelines: PipelineRecord[];
  releases: ReleaseView[];
  approvals: ApprovalRow[];
  environments: EnvironmentRecord[];
}

async function loadAll(): Promise<PipelineData> {
  const [p, r, a, e] = await Promise.all([
    get<{ pipelines: PipelineRecord[] }>('/v1/pipelines'),
    get<{ releases: ReleaseView[] }>('/v1/releases'),
    get<{ approvals: ApprovalRow[] }>('/v1/approvals'),
    get<{ environments: EnvironmentRecord[] }>('/v1/environments').catch((err: unknown) => {
      if (err instanceof ApiError && err.notAvailable) return { environments: [] };
      throw err;
    }),
  ]);
  return { pipelines: p.pipelines, releases: r.releases, approvals: a.approvals, environments: e.environments };
}

function approveReason(session: SessionInfo | null | undefined, role: string): string | undefined {
  if (!session) return 'sign in first';
  if (session.can.admin || session.can.approverRoles.includes(role)) return undefined;
  return `needs role approver:${role} — you are ${session.roles.join(', ') || 'no role'}`;
}

function StageCell({ s }: { s: ReleaseStageState | undefined }) {
  if (!s) return <td>—</td>;
  return (
    <td data-stage={s.stage}>
      <span class={`phase stage-${s.phase.toLowerCase()}`}>{s.phase}</span>
      {s.reason && <span class="muted"> {s.reason}</span>}
      {s.message && <div class="small">{s.message}</div>}
      {s.until && <div class="small muted">until {time(s.until)}</div>}
    </td>
  );
}

function Approvals({ rows, onDone }: { rows: ApprovalRow[]; onDone: () => void }) {
  const session = useAppState((s) => s.session);
  const decide = (row: ApprovalRow, decision: 'approve' | 'reject') =>
    confirmAction({
      title: `${decision === 'approve' ? 'Approve' : 'Reject'} release ${row.release} for ${row.stage}?`,
      description:
        decision === 'approve'
          ? `Record your approval as ${row.role} for release ${row.release} to enter stage ${row.stage} (${row.approvedBy.length} of ${row.count} so far). It enters once every gate passes.`
          : `Reject release ${row.release} for stage ${row.stage} as ${row.role}: it will not enter that stage.`,
      danger: decision === 'reject',
      fields: (values, set) => (
        <p class="field">
          <label for="confirm-comment">Comment</label>
          <input id="confirm-comment" type="text" value={values.comment ?? ''} onInput={(e) => set('comment', (e.target as HTMLInputElement).value)} />
        </p>
      ),
      run: (v) =>
        api('POST', `/v1/releases/${seg(row.release)}/${decision}`, { stage: row.stage, role: row.role, ...(v.comment ? { comment: v.comment } : {}) }),
      done: onDone,
    });
  return (
    <section aria-labelledby="approvals-title" class="card" data-testid="approvals">
      <h2 id="approvals-title">Approvals</h2>
      {rows.length === 0 ? (
        <Empty>No stage asks for an approval.</Empty>
      ) : (
        <ScrollBox label={'Approvals table'}>
          <table>
            <caption class="sr-only">Approvals</caption>
            <thead>
              <tr>
                <th scope="col">Release</th>
                <th scope="col">Stage</th>
                <th scope="col">Role</th>
                <th scope="col">Approved by</th>
                <th scope="col">Rejected by</th>
                <th scope="col">Status</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => {
                const reason = approveReason(session, r.role);
                return (
                  <tr key={`${r.release}/${r.stage}/${r.role}`} data-approval={`${r.release}/${r.stage}/${r.role}`}>
                    <th scope="row">{r.release}</th>
                    <td>{r.stage}</td>
                    <td>
                      {r.role} ×{r.count} {!r.blocking && <span class="muted">(non-blocking)</span>}
                    </td>
                    <td>{r.approvedBy.join(', ') || '—'}</td>
                    <td>{r.rejectedBy.join(', ') || '—'}</td>
                    <td>{r.pending ? 'waiting' : 'done'}</td>
                    <td class="row-actions">
                      {r.pending ? (
                        <>
                          <button type="button" class="primary" disabled={reason !== undefined} onClick={() => decide(r, 'approve')}>
                            Approve
                            <span class="sr-only">
                              {' '}
                              {r.release} for {r.stage}
                            </span>
                          </button>
                          <button type="button" class="danger" disabled={reason !== undefined} onClick={() => decide(r, 'reject')}>
                            Reject
                            <span class="sr-only">
                              {' '}
                              {r.release} for {r.stage}
                            </span>
                          </button>
                          {reason && (
                            <span class="disabled-reason" data-testid="actions-disabled">
                              {reason}
                            </span>
                          )}
                        </>
                      ) : (
                        '—'
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </ScrollBox>
      )}
    </section>
  );
}

function Pipeline({ p, releases }: { p: PipelineRecord; releases: ReleaseView[] }) {
  const mine = releases.filter((r) => r.release.pipeline === p.name).sort((a, b) => b.release.createdAt - a.release.createdAt);
  const stages = p.spec.stages;
  return (
    <section class="card" aria-labelledby={`pipeline-${p.name}`}>
      <h2 id={`pipeline-${p.name}`}>Pipeline {p.name}</h2>
      <p class="muted">Services: {p.spec.services.join(', ') || '—'}</p>
      <ol class="stages">
        {stages.map((s) => (
          <li key={s.name}>
            <strong>{s.name}</strong> → {s.environment} <span class="muted">({s.entry} entry</span>
            {s.requiredSoakSeconds > 0 && <span class="muted">, soak {s.requiredSoakSeconds}s</span>}
            {s.approvals.length > 0 && <span class="muted">, approvals: {s.approvals.map((a) => `${a.role} ×${a.count}`).join(', ')}</span>}
            <span class="muted">)</span>
            {(s.windows.length > 0 || s.freezes.length > 0) && (
              <ul class="windows">
                {s.windows.map((w) => (
                  <li key={`${w.days.join()}${w.start}${w.end}`}>
                    Window: {w.days.join(', ')} {w.start}–{w.end} ({w.timeZone})
                  </li>
                ))}
                {s.freezes.map((f) => (
                  <li key={`${f.from}${f.to}`}>
                    Freeze: {f.from} to {f.to} ({f.timeZone}){f.reason ? ` — ${f.reason}` : ''}
                  </li>
                ))}
              </ul>
            )}
          </li>
        ))}
      </ol>
      {mine.length === 0 ? (
        <Empty>
          No release yet: <code>sluice release create --pipeline {p.name} --version V --commit SHA</code>.
        </Empty>
      ) : (
        <ScrollBox label={`Releases of ${p.name}`}>
          <table class="releases">
            <caption class="sr-only">Releases of {p.name}</caption>
            <thead>
              <tr>
                <th scope="col">Release</th>
                <th scope="col">Created</th>
                {stages.map((s) => (
                  <th scope="col" key={s.name}>
                    {s.name}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {mine.map((r) => (
                <tr key={r.release.id} data-release={r.release.id}>
                  <th scope="row">
                    {r.release.id}
                    <div class="small muted">
                      {r.release.commit.slice(0, 12)}
                      {r.release.hotfixOf ? `, hotfix of ${r.release.hotfixOf}` : ''}
                    </div>
                  </th>
                  <td>
                    {time(r.release.createdAt)}
                    <div class="small muted">by {r.release.createdBy}</div>
                  </td>
                  {stages.map((s) => (
                    <StageCell key={s.name} s={r.stages.find((x) => x.stage === s.name)} />
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </ScrollBox>
      )}
    </section>
  );
}

export function PipelinesPage() {
  const epoch = useAppState((s) => s.epoch);
  const [tick, setTick] = useState(0);
  useEffect(() => onStream('releases', () => setTick((t) => t + 1)), []);
  const [data, reload] = useLoad(loadAll, [epoch, tick]);
  return (
    <section aria-labelledby="pipelines-title" data-testid="pipelines">
      <h1 id="pipelines-title">Pipelines</h1>
      {data.state === 'loading' ? (
        <Loading what="pipelines" />
      ) : data.state === 'off' ? (
        <Empty>This control plane runs no pipelines ({data.message}).</Empty>
      ) : data.state === 'error' ? (
        <ErrorLine error={data.error} />
      ) : (
        <>
          {data.data.pipelines.length === 0 ? (
            <Empty>
              No pipelines yet. Apply a <code>kind: Pipeline</code> document (docs/pipelines.md).
            </Empty>
          ) : (
            data.data.pipelines.map((p) => <Pipeline key={p.name} p={p} releases={data.data.releases} />)
          )}
          <Approvals rows={data.data.approvals} onDone={reload} />
          <section class="card" aria-labelledby="envs-title">
            <h2 id="envs-title">Environments</h2>
            {data.data.environments.length === 0 ? (
              <Empty>No environments applied.</Empty>
            ) : (
              <ul>
                {data.data.environments.map((e) => (
                  <li key={e.name}>
                    <strong>{e.name}</strong>
                    {e.spec.description ? ` — ${e.spec.description}` : ''}
                  </li>
                ))}
              </ul>
            )}
          </section>
        </>
      )}
    </section>
  );
}
