/**
 * `spec.database`: the database whose migrations move with the release (core/database.ts,
 * docs/migrations.md). Defaults: a 2 s lock_timeout with 5 retries (the app never waits
 * longer than that behind a migration's lock), no statement timeout beyond 1 h, batches of
 * 10,000 keys, backups kept 5 deep, contract at the next release.
 */
import { dirname, resolve as resolvePath } from 'node:path';
import type { ConnectionRef, DatabaseSpec, MigrationPhase, ToolCommand } from '../core/database.js';
import { LIMITS } from './limits.js';
import { boolean, duration, integer, listOf, map, object, oneOf, optional, required, scalarOrMap, string, text, withDefault, type Decoder } from './schema.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const toolCommand = (file: string): Decoder<ToolCommand> =>
  map(
    object({
      command: required(
        listOf(text('write each word of the command as a string', LIMITS.envValueChars), 'write the command as a list, e.g. [python, manage.py, migrate]'),
        '[python, manage.py, migrate]',
      ),
      cwd: optional(string({ fix: 'write a directory, relative to this file or absolute' })),
      timeout: withDefault(duration({ min: 1 }), 600),
    }),
    (t) => ({ command: t.command, ...(t.cwd ? { cwd: resolvePath(dirname(resolvePath(file)), t.cwd) } : {}), timeoutSeconds: t.timeout }),
  );

export const databaseField = (file: string): Decoder<DatabaseSpec> => {
  const here = (p: string) => resolvePath(dirname(resolvePath(file)), p);
  return map(
    object({
      engine: required(oneOf(['postgres', 'sqlite'] as const, 'write postgres or sqlite'), 'postgres'),
      url: optional(
        object({
          env: optional(
            string({
              fix: 'write the name of an environment variable, e.g. DATABASE_URL',
              pattern: ENV_NAME,
              patternProblem: 'must be an environment variable name',
            }),
          ),
          file: optional(string({ fix: 'write the path of a file holding the URL, relative to this manifest or absolute' })),
        }),
      ),
      path: optional(string({ fix: 'write the SQLite file, relative to this manifest or absolute' })),
      migrations: withDefault(string({ fix: 'write the folder of migration files, relative to this manifest or absolute' }), 'migrations'),
      tool: optional(
        object({
          expand: optional(toolCommand(file)),
          migrate: optional(toolCommand(file)),
          contract: optional(toolCommand(file)),
        }),
      ),
      lockTimeout: withDefault(duration({ min: 0.01, max: 600 }), 2),
      statementTimeout: withDefault(duration({ min: 0, max: 86_400 }), 3600),
      lockRetries: withDefault(integer({ min: 0, max: 100, fix: 'write how many times a statement that timed out on its lock is retried, e.g. 5' }), 5),
      retryBackoff: withDefault(duration({ min: 0, max: 600 }), 0.5),
      backfill: withDefault(
        object({
          batchSize: withDefault(integer({ min: 1, max: 10_000_000, fix: 'write the keys per batch, e.g. 10000' }), 10_000),
          pause: withDefault(duration({ min: 0, max: 3600 }), 0),
          maxReplicationLag: optional(duration({ min: 0, max: 86_400 })),
          maxActiveSessions: optional(integer({ min: 1, max: 10_000, fix: 'write how many active sessions make the backfill wait, e.g. 50' })),
        }),
        (): { batchSize: number; pause: number; maxReplicationLag?: number; maxActiveSessions?: number } => ({ batchSize: 10_000, pause: 0 }),
      ),
      backups: withDefault(
        object({
          enabled: withDefault(boolean('write true or false'), true),
          keep: withDefault(integer({ min: 1, max: 1000, fix: 'write how many backups to keep, e.g. 5' }), 5),
        }),
        () => ({ enabled: true, keep: 5 }),
      ),
      contractAfter: withDefault(
        scalarOrMap(string({ fix: 'write next-release or a duration, e.g. 1h' }), object({ duration: required(duration({ min: 0 }), '1h') })),
        'next-release',
      ),
      verifyStable: withDefault(boolean('write true or false'), true),
    }),
    (d, node, ctx): DatabaseSpec => {
      let connection: ConnectionRef;
      if (d.engine === 'sqlite') {
        if (!d.path) ctx.fail(node, 'engine sqlite needs path', 'write path: the SQLite file of the app, e.g. path: ./data/app.db');
        if (d.url) ctx.key('url').fail(node, 'engine sqlite takes path, not url', 'remove url');
        connection = { path: here(d.path as string) };
      } else {
        const url = d.url;
        if (!url || (url.env === undefined) === (url.file === undefined)) {
          ctx.fail(
            node,
            'engine postgres needs url with exactly one of env or file (the URL itself is never written in a manifest)',
            'write url: {env: DATABASE_URL}',
          );
        }
        if (d.path) ctx.key('path').fail(node, 'engine postgres takes url, not path', 'remove path');
        connection = url?.env !== undefined ? { env: url.env } : { file: here(url?.file as string) };
      }
      let contractAfter: DatabaseSpec['contractAfter'];
      if (typeof d.contractAfter === 'string') {
        if (d.contractAfter !== 'next-release') {
          ctx
            .key('contractAfter')
            .fail(
              node,
              `must be next-release or {duration: …}, got "${d.contractAfter}"`,
              'write contractAfter: next-release or contractAfter: {duration: 1h}',
            );
        }
        contractAfter = { nextRelease: true };
      } else contractAfter = { seconds: d.contractAfter.duration };
      const tool = d.tool
        ? (Object.fromEntries(Object.entries(d.tool).filter(([, v]) => v !== undefined)) as Partial<Record<MigrationPhase, ToolCommand>>)
        : undefined;
      return {
        engine: d.engine,
        connection,
        migrations: here(d.migrations),
        ...(tool && Object.keys(tool).length > 0 ? { tool } : {}),
        lockTimeoutMs: Math.round(d.lockTimeout * 1000),
        statementTimeoutMs: Math.round(d.statementTimeout * 1000),
        lockRetries: d.lockRetries,
        retryBackoffMs: Math.round(d.retryBackoff * 1000),
        backfill: {
          batchSize: d.backfill.batchSize,
          pauseMs: Math.round(d.backfill.pause * 1000),
          ...(d.backfill.maxReplicationLag !== undefined ? { maxReplicationLagSeconds: d.backfill.maxReplicationLag } : {}),
          ...(d.backfill.maxActiveSessions !== undefined ? { maxActiveSessions: d.backfill.maxActiveSessions } : {}),
        },
        backups: d.backups,
        contractAfter,
        verifyStable: d.verifyStable,
      };
    },
  );
};
