/**
 * Dashboard sessions (issue 16): a browser signs in once with an API token and then holds a
 * signed cookie instead of the token. The cookie is `v1.<payload>.<mac>` — the payload
 * (user, roles, token id, nonce, expiry) in base64url, the mac an HMAC-SHA256 under a key
 * derived from the state directory's admin token, so sessions survive a control-plane
 * restart and die with a new admin token. Nothing is stored per session except sign-outs.
 *
 * CSRF: every request that changes something must carry `X-CSRF-Token`, an HMAC of the
 * session's nonce that only a page of this origin can read (it comes in the JSON of
 * `/v1/session`). A named token's session ends when the token is revoked or expires.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Principal, Role } from '../core/auth.js';
import { SESSION_COOKIE } from '../core/live.js';

/** How long a sign-in lasts unless `sluice up --session-ttl` says otherwise. */
export const DEFAULT_SESSION_TTL_MS = 12 * 3600_000;

/** A valid session: who, until when, and its CSRF token. */
export interface Session extends Principal {
  nonce: string;
  expiresAt: number;
  csrf: string;
}

interface Payload {
  u: string;
  r: Role[];
  t?: string;
  n: string;
  e: number;
}

export interface SessionOptions {
  /** The state directory's admin token: the signing key is derived from it. */
  adminToken: string;
  /** Where sign-outs are kept (`<state>/signed-out.json`); absent: in memory only (tests). */
  stateDir?: string;
  ttlMs?: number;
  now(): number;
  /** A named token's current principal (roles as they are now), or undefined once revoked or expired. */
  tokenPrincipal(id: string): Principal | undefined;
}

const SIGNED_OUT_FILE = 'signed-out.json';

export class Sessions {
  private readonly key: Buffer;
  readonly ttlMs: number;
  /** nonce → expiry of sessions signed out before they expired. */
  private readonly signedOut = new Map<string, number>();

  constructor(private readonly options: SessionOptions) {
    this.key = createHmac('sha256', options.adminToken).update('sluice dashboard session v1').digest();
    this.ttlMs = options.ttlMs ?? DEFAULT_SESSION_TTL_MS;
    this.loadSignedOut();
  }

  /** A new session for `who`: its cookie value and what the browser is told. */
  create(who: Principal): { cookie: string; session: Session } {
    const payload: Payload = {
      u: who.user,
      r: [...who.roles],
      ...(who.tokenId !== undefined ? { t: who.tokenId } : {}),
      n: randomBytes(16).toString('base64url'),
      e: this.options.now() + this.ttlMs,
    };
    const body = `v1.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    return { cookie: `${body}.${this.mac(body)}`, session: this.sessionOf(payload) };
  }

  /** The session a cookie value names, or why it is not one (one line, for the 401). */
  verify(cookie: string): Session | { refused: string } {
    const expired = { refused: 'your dashboard session ended — sign in again' };
    const dot = cookie.lastIndexOf('.');
    if (!cookie.startsWith('v1.') || dot < 3) return expired;
    const body = cookie.slice(0, dot);
    const given = Buffer.from(cookie.slice(dot + 1), 'base64url');
    const want = Buffer.from(this.mac(body), 'base64url');
    if (given.length !== want.length || !timingSafeEqual(given, want)) return expired;
    let p: Payload;
    try {
      p = JSON.parse(Buffer.from(body.slice(3), 'base64url').toString('utf8')) as Payload;
    } catch {
      return expired;
    }
    if (typeof p.e !== 'number' || p.e <= this.options.now() || this.signedOut.has(p.n)) return expired;
    if (p.t !== undefined) {
      const now = this.options.tokenPrincipal(p.t);
      if (now === undefined) return { refused: `the token "${p.u}" signed in with was revoked or expired — sign in with a valid one` };
      // Roles as the token has them now (they cannot change today, but never trust the cookie's copy over the store).
      p = { ...p, r: now.roles };
    }
    return this.sessionOf(p);
  }

  /** Whether `header` is the CSRF token of `session` (timing-safe). */
  csrfOk(session: Session, header: string | undefined): boolean {
    if (header === undefined) return false;
    const a = Buffer.from(header);
    const b = Buffer.from(session.csrf);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Ends a session before its expiry; kept on disk until then, so a restart does not bring it back. */
  signOut(session: Session): void {
    const now = this.options.now();
    for (const [n, e] of this.signedOut) if (e <= now) this.signedOut.delete(n);
    this.signedOut.set(session.nonce, session.expiresAt);
    if (this.options.stateDir !== undefined) {
      const path = join(this.options.stateDir, SIGNED_OUT_FILE);
      writeFileSync(`${path}.tmp`, `${JSON.stringify(Object.fromEntries(this.signedOut))}\n`, { mode: 0o600 });
      renameSync(`${path}.tmp`, path);
    }
  }

  /** The Set-Cookie header value for a cookie (empty value: remove it). */
  setCookie(value: string, maxAgeMs: number): string {
    return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.max(0, Math.floor(maxAgeMs / 1000))}`;
  }

  private sessionOf(p: Payload): Session {
    return {
      user: p.u,
      roles: p.r,
      ...(p.t !== undefined ? { tokenId: p.t } : {}),
      nonce: p.n,
      expiresAt: p.e,
      csrf: this.mac(`csrf:${p.n}`),
    };
  }

  private mac(text: string): string {
    return createHmac('sha256', this.key).update(text).digest('base64url');
  }

  private loadSignedOut(): void {
    if (this.options.stateDir === undefined) return;
    let text: string;
    try {
      text = readFileSync(join(this.options.stateDir, SIGNED_OUT_FILE), 'utf8');
    } catch {
      return;
    }
    try {
      const now = this.options.now();
      for (const [n, e] of Object.entries(JSON.parse(text) as Record<string, unknown>)) if (typeof e === 'number' && e > now) this.signedOut.set(n, e);
    } catch {
      // A damaged file forgets sign-outs; their sessions still expire. Nothing else depends on it.
    }
  }
}

/** The value of one cookie in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
