/**
 * Assignment on an experiment's listener: takes the place of `sticky` in the default split
 * (CompiledListener.sticky), so listeners without an experiment run exactly as before. The
 * user key is the `userKey.header` value (up to MAX_USER_LENGTH characters), else the `userKey.cookie` value, else the id in the
 * router's signed cookie (user-cookie.ts), minted with a Set-Cookie when missing or not
 * genuine. The bucket is assignmentBucket(assignmentSeed(salt), key) (src/experiments/assign.ts)
 * mapped through the listener's BucketSplit. Every request served records the exposure of a
 * user new to this process's set (plane.ts), and keeps a GoalHit when a goal may match.
 */
import type { IncomingMessage } from 'node:http';
import { assignmentBucket } from '../../experiments/assign.js';
import type { BucketSplit } from '../split.js';
import { cookieValue } from '../split.js';
import { GoalHit, goalMatchesRequest, type CompiledGoal } from './goals.js';
import { type ExperimentRecorder, type LiveExperiment, MAX_USER_LENGTH } from './types.js';

export class ExperimentSplit<T> {
  /** The Set-Cookie value for the request just routed when it got a new id, else undefined. Read right after choose(). */
  assigned: string | undefined = undefined;
  /** The request just routed, when a goal may match it; taken by the proxy with take(). */
  private pending: GoalHit | undefined = undefined;
  private readonly header: string | undefined;
  private readonly appCookie: string | undefined;
  private readonly ownCookie: string;
  private readonly cookiePrefix: string;
  private readonly cookieSuffix: string;

  constructor(
    private readonly plane: ExperimentRecorder,
    readonly exp: LiveExperiment,
    private readonly buckets: BucketSplit<T>,
    private readonly goals: CompiledGoal[],
  ) {
    const r = exp.routes;
    this.header = r.userKey.header?.toLowerCase();
    this.appCookie = r.userKey.cookie;
    this.ownCookie = r.cookie.name;
    this.cookiePrefix = `${r.cookie.name}=`;
    this.cookieSuffix = `; Path=/; HttpOnly; SameSite=Lax; Max-Age=${r.cookie.maxAgeSeconds}`;
  }

  /** The request's user key; sets `assigned` when a new signed id was minted. */
  userKey(req: IncomingMessage): string {
    this.assigned = undefined;
    if (this.header !== undefined) {
      const v = req.headers[this.header];
      const key = Array.isArray(v) ? v[0] : v;
      if (key !== undefined && key !== '' && key.length <= MAX_USER_LENGTH) return key;
    }
    const cookies = req.headers.cookie;
    if (this.appCookie !== undefined) {
      const key = cookieValue(cookies, this.appCookie);
      if (key !== undefined && key !== '' && key.length <= MAX_USER_LENGTH) return key;
    }
    const id = this.plane.signer.verify(cookieValue(cookies, this.ownCookie));
    if (id !== undefined) return id;
    const [fresh, value] = this.plane.signer.mint();
    this.assigned = this.cookiePrefix + value + this.cookieSuffix;
    return fresh;
  }

  choose(req: IncomingMessage): T | undefined {
    const key = this.userKey(req);
    const bucket = assignmentBucket(this.exp.seed, key);
    const item = this.buckets.at(bucket);
    if (item === undefined) return undefined;
    const variant = this.exp.variants.at(bucket)!;
    this.plane.expose(this.exp, key, variant);
    const goals = this.goals;
    if (goals.length > 0) {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      const method = req.method ?? 'GET';
      let matched: CompiledGoal[] | undefined;
      for (let i = 0; i < goals.length; i++) if (goalMatchesRequest(goals[i], method, path)) (matched ??= []).push(goals[i]);
      if (matched !== undefined) this.pending = new GoalHit(this.plane, this.exp, key, variant, matched);
    }
    return item;
  }

  /** The GoalHit of the request choose() just routed, if any (and forgets it). */
  take(): GoalHit | undefined {
    const h = this.pending;
    this.pending = undefined;
    return h;
  }
}
