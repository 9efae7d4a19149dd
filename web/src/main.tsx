/**
 * The sluice dashboard (issue 16): one page, same origin as the API. It asks for the session
 * and the overview together, shows the sign-in form when there is no session, and keeps the
 * data live through `GET /v1/stream`.
 */
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, setCsrf, setUnauthorizedHandler } from './api.js';
import { onStream, startStream, stopStream } from './live.js';
import { type Route, useRoute } from './router.js';
import { getState, queueRollout, setOverview, setState, useAppState } from './store.js';
import type { Overview, SessionInfo } from './types.js';
import { Alert, ConfirmDialog, errorText } from './ui.js';
import { OverviewPage } from './pages/overview.js';
import { RolloutPage } from './pages/rollout.js';
import { FlagsPage } from './pages/flags.js';
import { ExperimentsPage } from './pages/experiments.js';
import { PipelinesPage } from './pages/pipelines.js';
import { KpisPage } from './pages/kpis.js';

async function loadOverview(): Promise<void> {
  try {
    setOverview(await api<Overview>('GET', '/v1/overview'));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    setState({ overviewError: errorText(err) });
  }
}

function signedIn(session: SessionInfo): void {
  setCsrf(session.csrf);
  setState({ session });
  startStream({
    onResync: () => {
      void loadOverview();
      setState({ epoch: getState().epoch + 1 });
    },
    checkSession: async () => {
      try {
        const s = await api<SessionInfo>('GET', '/v1/session', undefined, { quiet401: true });
        setCsrf(s.csrf);
        setState({ session: s });
        return true;
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          signedOut();
          return false;
        }
        return true;
      }
    },
  });
}

function signedOut(): void {
  stopStream();
  setCsrf('');
  setState({ session: null, rollouts: new Map(), environments: [], overviewLoaded: false, overviewError: undefined, connection: 'connecting' });
}

onStream('rollout', (r) => queueRollout(r.name, r));
onStream('removed', (r) => queueRollout(r.name, null));

/** First load: the session and the overview in parallel. */
async function boot(): Promise<void> {
  setUnauthorizedHandler(() => {
    if (getState().session) signedOut();
  });
  const session = api<SessionInfo>('GET', '/v1/session', undefined, { quiet401: true });
  const overview = api<Overview>('GET', '/v1/overview', undefined, { quiet401: true });
  overview.catch(() => undefined);
  try {
    signedIn(await session);
  } catch (err) {
    setState({ session: null });
    if (!(err instanceof ApiError && err.status === 401)) setState({ overviewError: errorText(err) });
    return;
  }
  try {
    setOverview(await overview);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) setState({ overviewError: errorText(err) });
    else void loadOverview();
  }
}

function SignIn() {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const s = await api<SessionInfo>('POST', '/v1/session', { token: token.trim() }, { quiet401: true });
      setToken('');
      signedIn(s);
      void loadOverview();
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? `Sign-in refused: ${err.message}` : errorText(err));
      input.current?.focus();
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="signin">
      <h1>sluice</h1>
      <form onSubmit={submit} class="card">
        <h2>Sign in</h2>
        <p class="hint">
          Paste an API token: the admin token in <code>.sluice/token</code>, or one made with <code>sluice token create</code>.
        </p>
        <label for="token">API token</label>
        <input
          id="token"
          ref={input}
          type="password"
          autocomplete="current-password"
          required
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
        />
        {error && <Alert>{error}</Alert>}
        <button type="submit" class="primary" disabled={busy || token.trim() === ''}>
          Sign in
        </button>
      </form>
    </main>
  );
}

const NAV: { href: string; label: string; pages: Route['page'][] }[] = [
  { href: '#/', label: 'Rollouts', pages: ['overview', 'rollout'] },
  { href: '#/flags', label: 'Flags', pages: ['flags'] },
  { href: '#/experiments', label: 'Experiments', pages: ['experiments'] },
  { href: '#/pipelines', label: 'Pipelines', pages: ['pipelines'] },
  { href: '#/kpis', label: 'KPIs', pages: ['kpis'] },
];

function Header({ route, session }: { route: Route; session: SessionInfo }) {
  const connection = useAppState((s) => s.connection);
  const [error, setError] = useState<string | undefined>();
  const signOut = async () => {
    setError(undefined);
    try {
      await api('DELETE', '/v1/session', {});
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) {
        setError(errorText(err));
        return;
      }
    }
    signedOut();
  };
  return (
    <header class="top">
      <button type="button" class="skip" onClick={skipToMain}>
        Skip to content
      </button>
      <span class="brand">sluice</span>
      <nav aria-label="Main">
        <ul>
          {NAV.map((n) => (
            <li key={n.href}>
              <a href={n.href} aria-current={n.pages.includes(route.page) ? 'page' : undefined}>
                {n.label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <span class={`connection ${connection === 'live' ? 'ok' : 'warn'}`} data-testid="connection" role="status">
        {connection === 'live' ? 'live' : 'reconnecting…'}
      </span>
      <span class="user">
        <span data-testid="user">{session.user}</span> <span class="roles">({session.roles.join(', ') || 'no role'})</span>
      </span>
      <button type="button" onClick={signOut}>
        Sign out
      </button>
      {error && <Alert>{error}</Alert>}
    </header>
  );
}

function skipToMain(e: Event): void {
  e.preventDefault();
  const m = document.getElementById('main');
  m?.focus();
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'overview':
      return <OverviewPage />;
    case 'rollout':
      return <RolloutPage key={route.name} name={route.name} />;
    case 'flags':
      return <FlagsPage />;
    case 'experiments':
      return <ExperimentsPage />;
    case 'pipelines':
      return <PipelinesPage />;
    case 'kpis':
      return <KpisPage />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>
            No page at <code>{route.path}</code>. <a href="#/">Back to the rollouts</a>.
          </p>
        </section>
      );
  }
}

const TITLES: Record<Route['page'], string> = {
  overview: 'Rollouts',
  rollout: 'Rollout',
  flags: 'Feature flags',
  experiments: 'Experiments',
  pipelines: 'Pipelines',
  kpis: 'KPIs',
  unknown: 'Not found',
};

function App() {
  const session = useAppState((s) => s.session);
  const route = useRoute();
  useEffect(() => {
    document.title = `${route.page === 'rollout' ? route.name : TITLES[route.page]} · sluice`;
  }, [route]);
  if (session === undefined) {
    return (
      <main id="main" class="signin">
        <p class="loading">Loading…</p>
      </main>
    );
  }
  if (session === null) return <SignIn />;
  return (
    <>
      <Header route={route} session={session} />
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
      <ConfirmDialog />
    </>
  );
}

const root = document.getElementById('app');
if (root) {
  render(<App />, root);
  void boot();
}
