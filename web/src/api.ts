/**
 * Calls to the control plane's API, same origin. The session cookie goes with every request
 * by itself; every request that changes something also sends the CSRF token of the session
 * and a JSON body, as the API requires.
 */
import { CSRF_HEADER } from './types.js';

/** An answer other than 2xx: `message` is the API's one-line `error`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
  /** 501: the capability is off on this control plane (no flags, no pipelines…). */
  get notAvailable(): boolean {
    return this.status === 501;
  }
}

let csrf = '';
let onUnauthorized: () => void = () => {};

export function setCsrf(token: string): void {
  csrf = token;
}

/** Called when a request answers 401 (the session expired or was signed out elsewhere). */
export function setUnauthorizedHandler(f: () => void): void {
  onUnauthorized = f;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export async function api<T>(method: Method, path: string, body?: unknown, options: { quiet401?: boolean } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const init: RequestInit = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (method !== 'GET') {
    headers['content-type'] = 'application/json';
    headers[CSRF_HEADER] = csrf;
    init.body = JSON.stringify(body ?? {});
  }
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, `cannot reach the sluice API (${(err as Error).message || 'network error'}) — is the control plane up?`, 'network');
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const p = (parsed ?? {}) as { error?: unknown; code?: unknown };
    const message = typeof p.error === 'string' ? p.error : `${method} ${path} answered ${res.status} ${res.statusText}`;
    if (res.status === 401 && !options.quiet401) onUnauthorized();
    throw new ApiError(res.status, message, typeof p.code === 'string' ? p.code : undefined);
  }
  return parsed as T;
}

export const get = <T>(path: string) => api<T>('GET', path);
export const post = <T>(path: string, body?: unknown) => api<T>('POST', path, body);

/** `encodeURIComponent` for a path segment. */
export const seg = (s: string) => encodeURIComponent(s);
