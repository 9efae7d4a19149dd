/** Small pieces every page uses: alerts, empty states, loading, the role reason, the confirm dialog. */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.js';
import type { SessionInfo } from './types.js';

export function Alert({ children }: { children: ComponentChildren }) {
  return (
    <div class="alert" role="alert">
      {children}
    </div>
  );
}

export function ErrorLine({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  return <Alert>{errorText(error)}</Alert>;
}

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="loading" aria-live="polite">
      Loading {what}…
    </p>
  );
}

/** A list or object answered, not available (501), or failed. */
export type Loaded<T> = { state: 'loading' } | { state: 'ok'; data: T } | { state: 'off'; message: string } | { state: 'error'; error: unknown };

/** Fetch `load()` when `deps` change; 501 becomes `off`. `reload` fetches again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): [Loaded<T>, () => void] {
  const [value, setValue] = useState<Loaded<T>>({ state: 'loading' });
  const [tick, setTick] = useState(0);
  const latestValue = useRef(value);
  latestValue.current = value;
  useEffect(() => {
    let live = true;
    // Keep showing the last answer while a refetch runs.
    if (latestValue.current.state !== 'ok') setValue({ state: 'loading' });
    load().then(
      (data) => live && setValue({ state: 'ok', data }),
      (error: unknown) => {
        if (!live) return;
        if (error instanceof ApiError && error.notAvailable) setValue({ state: 'off', message: error.message });
        else setValue({ state: 'error', error });
      },
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return [value, () => setTick((t) => t + 1)];
}

/** Why the buttons of a role are disabled, or undefined when they are not. */
export function roleReason(session: SessionInfo | null | undefined, need: 'deploy' | 'admin'): string | undefined {
  if (!session) return 'sign in first';
  if (need === 'deploy' && session.can.deploy) return undefined;
  if (need === 'admin' && session.can.admin) return undefined;
  const roles = session.roles.length > 0 ? session.roles.join(', ') : 'no role';
  return `needs role ${need === 'deploy' ? 'deployer' : 'admin'} — you are ${roles}`;
}

export function DisabledReason({ reason }: { reason: string | undefined }) {
  if (!reason) return null;
  return (
    <p class="disabled-reason" data-testid="actions-disabled">
      {reason}
    </p>
  );
}

export interface ConfirmRequest {
  title: string;
  /** What will happen, in one or two sentences. */
  description: string;
  /** Extra input (a reason, a percentage), rendered inside the form. */
  fields?: (values: Record<string, string>, set: (name: string, value: string) => void) => ComponentChildren;
  initial?: Record<string, string>;
  /** Runs on Confirm; a thrown error is shown in the dialog, which stays open. */
  run: (values: Record<string, string>) => Promise<unknown>;
  /** After a successful run. */
  done?: () => void;
  confirmLabel?: string;
  danger?: boolean;
}

let openConfirm: (r: ConfirmRequest) => void = () => {};

/** Ask for confirmation before an action; the one dialog of the page shows it. */
export function confirmAction(r: ConfirmRequest): void {
  openConfirm(r);
}

/**
 * The native modal <dialog>: it keeps focus inside itself, closes on Escape, and gives
 * focus back to the button that opened it.
 */
export function ConfirmDialog() {
  const ref = useRef<HTMLDialogElement>(null);
  const opener = useRef<Element | null>(null);
  const [req, setReq] = useState<ConfirmRequest | null>(null);
  const [values, setValues] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);

  useEffect(() => {
    openConfirm = (r) => {
      opener.current = document.activeElement;
      setReq(r);
      setValues(r.initial ?? {});
      setError(undefined);
      setBusy(false);
    };
    return () => {
      openConfirm = () => {};
    };
  }, []);

  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (req && !d.open) d.showModal();
    if (!req && d.open) d.close();
  }, [req]);

  const close = () => {
    setReq(null);
    const o = opener.current as HTMLElement | null;
    if (o && typeof o.focus === 'function') setTimeout(() => o.focus(), 0);
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!req || busy) return;
    setBusy(true);
    setError(undefined);
    try {
      await req.run(values);
      const done = req.done;
      close();
      done?.();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <dialog
      ref={ref}
      class="confirm"
      aria-labelledby="confirm-title"
      aria-describedby="confirm-description"
      onCancel={(e) => {
        e.preventDefault();
        if (!busy) close();
      }}
    >
      {req && (
        <form method="dialog" onSubmit={submit}>
          <h2 id="confirm-title">{req.title}</h2>
          <p id="confirm-description">{req.description}</p>
          {req.fields?.(values, (name, value) => setValues((v) => ({ ...v, [name]: value })))}
          {error !== undefined && <Alert>{errorText(error)}</Alert>}
          <div class="dialog-buttons">
            <button type="submit" class={req.danger ? 'danger' : 'primary'} disabled={busy}>
              {busy ? 'Working…' : (req.confirmLabel ?? 'Confirm')}
            </button>
            <button type="button" onClick={close} disabled={busy} autofocus>
              Cancel
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}

/** A box that scrolls sideways on narrow screens; focusable, so a keyboard can scroll it. */
export function ScrollBox({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard
    <section class="table-scroll" tabIndex={0} aria-label={label}>
      {children}
    </section>
  );
}
