/**
 * The API's routes for environments, pipelines and releases (issue 15): create a release,
 * approve or reject its entry into a stage (approver roles), promote it and tick checklist
 * items (deployer), and read the documents (deployment request, post-deploy report,
 * post-mortem), the deployment log and the DORA metrics.
 */
import type { Principal, Role } from '../core/auth.js';
import type { EnvironmentRecord, PipelineRecord } from '../core/pipeline.js';
import { type Caller, HttpError, type RequestContext, type Routes } from '../http/server.js';
import type { CreateReleaseInput, ReleaseController } from '../engine/pipelines/releases.js';
import type { ReleaseDocuments } from '../engine/pipelines/documents.js';
import { parseDuration } from '../spec/duration.js';

/** What the routes need: the release controller and the documents built from the store. */
export interface ReleaseBackend {
  releases: Pick<ReleaseController, 'create' | 'list' | 'get' | 'decide' | 'withdraw' | 'promote' | 'check'>;
  documents: Pick<ReleaseDocuments, 'request' | 'report' | 'postmortem' | 'deploymentLog' | 'kpis' | 'approvals'>;
  environments(): EnvironmentRecord[];
  pipelines(): PipelineRecord[];
}

const bad = (message: string) => new HttpError(400, message, 'bad-request');

function str(body: Record<string, unknown>, field: string, required: true): string;
function str(body: Record<string, unknown>, field: string, required?: false): string | undefined;
function str(body: Record<string, unknown>, field: string, required = false): string | undefined {
  const v = body[field];
  if (v === undefined || v === null || v === '') {
    if (required) throw bad(`"${field}" is required`);
    return undefined;
  }
  if (typeof v !== 'string') throw bad(`"${field}" must be a string`);
  return v;
}

function stageOf(ctx: RequestContext, body?: Record<string, unknown>): string {
  const stage = body !== undefined ? str(body, 'stage') : (ctx.url.searchParams.get('stage') ?? undefined);
  if (!stage) throw bad('say which stage, e.g. --stage production');
  return stage;
}

/**
 * Who is acting: a named token's user and roles; the admin token acts as the local user the
 * CLI names (x-sluice-actor), with role admin.
 */
function principalOf(caller: Caller | undefined, actor: string): Principal {
  if (caller === undefined) return { user: actor, roles: ['admin'] };
  if (caller.tokenId !== undefined) return { user: caller.user, roles: caller.roles as Role[], tokenId: caller.tokenId };
  return { user: actor, roles: caller.roles as Role[] };
}

function createInput(body: Record<string, unknown>): CreateReleaseInput {
  const commitAt = body.commitAt;
  if (commitAt !== undefined && commitAt !== null && !(typeof commitAt === 'number' && Number.isFinite(commitAt) && commitAt > 0)) {
    throw bad('"commitAt" must be a time in ms since the epoch');
  }
  const services = body.services;
  if (services !== undefined && !Array.isArray(services)) throw bad('"services" must be a list of {service, version?, env?}');
  const env = body.env;
  if (
    env !== undefined &&
    env !== null &&
    !(typeof env === 'object' && !Array.isArray(env) && Object.values(env as object).every((v) => v === null || typeof v === 'string'))
  ) {
    throw bad('"env" must be a map of variable names to strings (or null to remove one)');
  }
  const notes = str(body, 'notes');
  const pipeline = str(body, 'pipeline');
  const hotfixOf = str(body, 'hotfixOf');
  return {
    version: str(body, 'version', true),
    commit: str(body, 'commit', true),
    ...(typeof commitAt === 'number' ? { commitAt } : {}),
    ...(notes !== undefined ? { notes } : {}),
    ...(pipeline !== undefined ? { pipeline } : {}),
    ...(hotfixOf !== undefined ? { hotfixOf } : {}),
    ...(services !== undefined ? { services: services as CreateReleaseInput['services'] } : {}),
    ...(env !== undefined && env !== null ? { env: env as Record<string, string | null> } : {}),
  };
}

/** `?since=30d` (a duration back from now) → ms; 30 days by default. */
function sinceOf(ctx: RequestContext, now: number): number {
  const raw = ctx.url.searchParams.get('since');
  if (raw === null || raw === '') return now - 30 * 86_400_000;
  const days = /^(\d{1,5})d$/.exec(raw);
  if (days) return now - Number(days[1]) * 86_400_000;
  try {
    return now - parseDuration(raw) * 1000;
  } catch {
    throw bad(`query parameter "since" must be a duration such as 30d, 12h or 90m, got "${raw.slice(0, 40)}"`);
  }
}

export function addPipelineRoutes(routes: Routes, backend: ReleaseBackend | undefined, actorOf: (ctx: RequestContext) => string, now: () => number): void {
  const get = (): ReleaseBackend => {
    if (backend === undefined) throw new HttpError(501, 'this control plane runs no pipelines', 'not-implemented');
    return backend;
  };
  const who = (ctx: RequestContext) => principalOf(ctx.caller, actorOf(ctx));
  const id = (ctx: RequestContext) => ctx.params.id!;
  const env = (ctx: RequestContext) => ctx.url.searchParams.get('env') || undefined;
  const markdown = async (text: Promise<string>) => ({ body: { markdown: await text } });
  routes
    .add('GET', '/v1/environments', () => ({ body: { environments: get().environments() } }))
    .add('GET', '/v1/pipelines', () => ({ body: { pipelines: get().pipelines() } }))
    .add('GET', '/v1/releases', (ctx) => ({ body: { releases: get().releases.list(ctx.url.searchParams.get('pipeline') || undefined) } }))
    .add('POST', '/v1/releases', async (ctx) => ({ status: 201, body: get().releases.create(createInput(await ctx.jsonObject()), who(ctx)) }), {
      need: 'deployer',
    })
    .add('GET', '/v1/releases/:id', (ctx) => ({ body: get().releases.get(id(ctx)) }))
    .add('GET', '/v1/releases/:id/request', (ctx) => markdown(get().documents.request(id(ctx), stageOf(ctx))))
    .add('GET', '/v1/releases/:id/report', (ctx) => markdown(get().documents.report(id(ctx), stageOf(ctx))))
    .add('GET', '/v1/releases/:id/postmortem', (ctx) => markdown(get().documents.postmortem(id(ctx), stageOf(ctx))))
    .add('GET', '/v1/approvals', (ctx) => ({ body: { approvals: get().documents.approvals(ctx.url.searchParams.get('release') || undefined) } }))
    .add('GET', '/v1/deployments', (ctx) => ({ body: { deployments: get().documents.deploymentLog(env(ctx)) } }))
    .add('GET', '/v1/kpis', (ctx) => {
      const t = now();
      return { body: get().documents.kpis({ since: sinceOf(ctx, t), until: t, ...(env(ctx) ? { environment: env(ctx)! } : {}) }) };
    });
  for (const decision of ['approve', 'reject'] as const) {
    routes.add(
      'POST',
      `/v1/releases/:id/${decision}`,
      async (ctx) => {
        const body = await ctx.jsonObject();
        const comment = str(body, 'comment');
        const role = str(body, 'role');
        const options = { ...(comment !== undefined ? { comment } : {}), ...(role !== undefined ? { role } : {}) };
        return { body: get().releases.decide(id(ctx), stageOf(ctx, body), decision, options, who(ctx)) };
      },
      { need: 'approver' },
    );
  }
  routes
    .add(
      'POST',
      '/v1/releases/:id/withdraw',
      async (ctx) => ({ body: { withdrawn: get().releases.withdraw(id(ctx), stageOf(ctx, await ctx.jsonObject()), who(ctx)) } }),
      {
        need: 'approver',
      },
    )
    .add('POST', '/v1/releases/:id/promote', async (ctx) => ({ body: get().releases.promote(id(ctx), stageOf(ctx, await ctx.jsonObject()), who(ctx)) }), {
      need: 'deployer',
    })
    .add(
      'POST',
      '/v1/releases/:id/check',
      async (ctx) => {
        const body = await ctx.jsonObject();
        return { body: get().releases.check(id(ctx), stageOf(ctx, body), str(body, 'item', true), who(ctx)) };
      },
      { need: 'deployer' },
    );
}
