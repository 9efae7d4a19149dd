/** Hash routes: #/, #/rollouts/NAME, #/flags, #/experiments, #/pipelines, #/kpis. */
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { page: 'overview' }
  | { page: 'rollout'; name: string }
  | { page: 'flags' }
  | { page: 'experiments' }
  | { page: 'pipelines' }
  | { page: 'kpis' }
  | { page: 'unknown'; path: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '') || '/';
  const m = /^\/rollouts\/([^/]+)\/?$/.exec(path);
  if (m) {
    try {
      return { page: 'rollout', name: decodeURIComponent(m[1]!) };
    } catch {
      return { page: 'unknown', path };
    }
  }
  switch (path.replace(/\/$/, '') || '/') {
    case '/':
      return { page: 'overview' };
    case '/flags':
      return { page: 'flags' };
    case '/experiments':
      return { page: 'experiments' };
    case '/pipelines':
      return { page: 'pipelines' };
    case '/kpis':
      return { page: 'kpis' };
    default:
      return { page: 'unknown', path };
  }
}

export function rolloutHref(name: string): string {
  return `#/rollouts/${encodeURIComponent(name)}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const f = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', f);
    return () => removeEventListener('hashchange', f);
  }, []);
  return route;
}
