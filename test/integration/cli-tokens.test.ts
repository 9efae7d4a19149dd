/**
 * Users and roles from the command line, against a real `sluice up` (API on 127.0.0.1, state
 * in a real SQLite file): the admin makes a viewer and a deployer token, each is who
 * `sluice whoami` says, a viewer's change is refused in one line naming the role needed, a
 * revoked token gets a one-line 401, `sluice audit` lists the calls with their users, and
 * neither `token list` nor any file of the state directory holds a token or its hash.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, SluiceUnderTest, type CliResult } from '../helpers/sluice.js';

// The admin's calls use the state directory's token: no token from the environment running the tests.
delete process.env.SLUICE_TOKEN;

let s: SluiceUnderTest;
before(async () => {
  s = await SluiceUnderTest.start();
});
after(async () => {
  await s?.down();
});

/** `sluice …` with $SLUICE_TOKEN set to `token` (none: the state directory's admin token). */
function cli(token: string | undefined, args: string[]): Promise<CliResult> {
  const env = { ...process.env };
  delete env.SLUICE_TOKEN;
  if (token !== undefined) env.SLUICE_TOKEN = token;
  return new Promise((done) => {
    const c = spawn(process.execPath, [BIN, '--state-dir', s.stateDir, ...args], { cwd: s.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('exit', (code) => done({ code: code ?? 1, stdout, stderr }));
  });
}

/** Exit `code` with exactly one `error:` line on stderr (plus the usage line for code 2), matching `pattern`. */
function failsWith(r: CliResult, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `exit code; stdout ${r.stdout} stderr ${r.stderr}`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, code === 2 ? 2 : 1, `one error line: ${r.stderr}`);
  assert.match(lines[0]!, /^error: /);
  assert.match(lines[0]!, pattern);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) return [];
    return st.isDirectory() ? filesUnder(p) : st.isFile() ? [p] : [];
  });
}

const FLAG = `apiVersion: sluice.dev/v1alpha1
kind: FeatureFlag
metadata:
  name: tokens-test
spec:
  owner: team-test
  permanent: true
  enable:
    percentage: 0
`;

test('token create/list/revoke, whoami, a refused change and the audit log, through the CLI', async () => {
  const flagFile = join(s.dir, 'flag.yaml');
  writeFileSync(flagFile, FLAG);

  // The admin (state directory token) makes a viewer and a deployer token.
  const v = await cli(undefined, ['token', 'create', 'vera', '--role', 'viewer']);
  assert.equal(v.code, 0, v.stderr);
  const viewer = /^(sl_[0-9a-f]+_\S+)$/m.exec(v.stdout)?.[1];
  assert.ok(viewer, `the token is printed on its own line: ${v.stdout}`);
  assert.match(v.stdout, /shown only now/);
  assert.ok(v.stdout.includes(`export SLUICE_TOKEN=${viewer}`), v.stdout);

  const d = await cli(undefined, ['token', 'create', 'dan', '--role', 'deployer', '--expires', '30d', '-o', 'json']);
  assert.equal(d.code, 0, d.stderr);
  const made = JSON.parse(d.stdout) as { token: string; record: Record<string, unknown> };
  const deployer = made.token;
  assert.match(deployer, /^sl_[0-9a-f]+_/);
  assert.deepEqual(made.record.roles, ['deployer']);
  assert.equal(made.record.name, 'dan');
  assert.equal(made.record.hash, undefined);
  const expiresIn = (made.record.expiresAt as number) - (made.record.createdAt as number);
  // The route reads the clock for the expiry and the service again for createdAt: a few ms apart.
  assert.ok(Math.abs(expiresIn - 30 * 86400 * 1000) < 1000, `--expires 30d: ${expiresIn} ms`);

  // whoami names each token; the admin token is admin.
  const wv = await cli(viewer, ['whoami']);
  assert.equal(wv.code, 0, wv.stderr);
  assert.match(wv.stdout, /^user: +vera$/m);
  assert.match(wv.stdout, /^roles: +viewer$/m);
  assert.match(wv.stdout, /^from: +\$SLUICE_TOKEN$/m);
  assert.deepEqual(JSON.parse((await cli(deployer, ['whoami', '-o', 'json'])).stdout), { user: 'dan', roles: ['deployer'], tokenId: made.record.id });
  assert.match((await cli(undefined, ['whoami'])).stdout, /^user: +admin$/m);

  // The viewer reads but cannot change: exit 1, one line naming the role needed.
  assert.equal((await cli(viewer, ['get', 'rollouts'])).code, 0);
  failsWith(await cli(viewer, ['apply', '-f', flagFile]), 1, /needs role deployer \(or admin\); token "vera" has viewer/);
  failsWith(await cli(viewer, ['pause', 'web']), 1, /needs role deployer \(or admin\)/);
  // Nor manage tokens or read the audit log: admin only.
  failsWith(await cli(viewer, ['token', 'list']), 1, /needs role admin; token "vera" has viewer/);
  failsWith(await cli(deployer, ['audit']), 1, /needs role admin; token "dan" has deployer/);

  // The deployer's change goes through.
  const applied = await cli(deployer, ['apply', '-f', flagFile]);
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /featureflag\/tokens-test created/);

  // token list: both tokens, never the token or its hash.
  const list = await cli(undefined, ['token', 'list']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^ID +NAME +ROLES +CREATED +EXPIRES +REVOKED$/m);
  assert.match(list.stdout, /^\S+ +vera +viewer +\S+ by admin +never +-$/m);
  assert.match(list.stdout, new RegExp(`^${made.record.id} +dan +deployer `, 'm'));
  const listJson = await cli(undefined, ['token', 'list', '-o', 'json']);
  const records = JSON.parse(listJson.stdout) as Record<string, unknown>[];
  assert.equal(records.length, 2);
  for (const r of records) assert.equal(r.hash, undefined);
  for (const t of [viewer, deployer]) {
    const hash = createHash('sha256').update(t).digest('hex');
    for (const out of [list.stdout, listJson.stdout]) {
      assert.ok(!out.includes(hash), 'no hash in token list');
      assert.ok(!out.includes(t.slice(-20)), 'no token in token list');
    }
  }

  // Revoke by name: the viewer's token is refused with a one-line 401.
  const rev = await cli(undefined, ['token', 'revoke', 'vera']);
  assert.equal(rev.code, 0, rev.stderr);
  assert.match(rev.stdout, /token\/vera \(id \S+\) revoked/);
  failsWith(await cli(viewer, ['whoami']), 1, /token "vera" was revoked at \S+ by admin — ask an admin for a new one/);
  failsWith(await cli(undefined, ['token', 'revoke', 'vera']), 1, /token "vera" is already revoked/);
  failsWith(await cli(undefined, ['token', 'revoke', 'nobody']), 1, /no token with id or name "nobody" — `sluice token list`/);
  assert.match((await cli(undefined, ['token', 'list'])).stdout, /^\S+ +vera +viewer +.* by admin$/m);

  // The audit log: who did what, refusals included, from 127.0.0.1.
  const audit = await cli(undefined, ['audit']);
  assert.equal(audit.code, 0, audit.stderr);
  assert.match(audit.stdout, /^TIME +USER +CALL +STATUS +FROM +OUTCOME$/m);
  assert.match(audit.stdout, /^\S+ +admin +POST \/v1\/tokens +201 +127\.0\.0\.1:\d+ +ok/m);
  assert.match(audit.stdout, /^\S+ +vera +POST \/v1\/apply +403 +127\.0\.0\.1:\d+ +refused: this needs role deployer/m);
  assert.match(audit.stdout, /^\S+ +vera +POST \/v1\/rollouts\/web\/pause +403 /m);
  assert.match(audit.stdout, /^\S+ +dan +POST \/v1\/apply +200 +127\.0\.0\.1:\d+ +ok/m);
  assert.match(audit.stdout, /^\S+ +admin +DELETE \/v1\/tokens\/\S+ +200 /m);
  assert.ok(!audit.stdout.includes('GET /v1/'), 'reads are not audited');
  const onlyDan = JSON.parse((await cli(undefined, ['audit', '--user', 'dan', '-o', 'json'])).stdout) as { user: string; path: string }[];
  assert.ok(onlyDan.length >= 1);
  assert.ok(onlyDan.every((r) => r.user === 'dan'));
  const two = JSON.parse((await cli(undefined, ['audit', '--limit', '2', '-o', 'json'])).stdout) as { id: number }[];
  assert.equal(two.length, 2);
  const next = JSON.parse((await cli(undefined, ['audit', '--after', String(two[1]!.id), '--limit', '1', '-o', 'json'])).stdout) as { id: number }[];
  assert.ok(next[0]!.id > two[1]!.id, '--after reads on');

  // No file of the state directory (database, WAL, logs) holds a token in plain.
  const files = filesUnder(s.stateDir);
  assert.ok(
    files.some((f) => f.endsWith('.db')),
    `the state is a SQLite file: ${files.join(', ')}`,
  );
  for (const f of files) {
    const content = readFileSync(f).toString('latin1');
    for (const t of [viewer, deployer]) {
      const secret = t.split('_').slice(2).join('_');
      assert.ok(!content.includes(secret), `${f} holds a token in plain`);
    }
  }
});

test('bad input: one line naming the flag and the fix, before any call', async () => {
  failsWith(
    await cli(undefined, ['token', 'create', 'x', '--role', 'boss']),
    2,
    /--role: role "boss" is not a role — use viewer, deployer, admin or approver:<role>/,
  );
  failsWith(await cli(undefined, ['token', 'create', 'x', '--role', 'approver:QA']), 2, /approver:<role>, e\.g\. approver:qa/);
  failsWith(await cli(undefined, ['token', 'create', 'x']), 2, /at least one --role: viewer, deployer, admin or approver:<role>/);
  failsWith(
    await cli(undefined, ['token', 'create', 'x', '--role', 'viewer', '--expires', '30x']),
    2,
    /--expires "30x" is not a duration — .*e\.g\. --expires 30d, 12h or 90m/,
  );
  failsWith(await cli(undefined, ['token', 'create', '--role', 'viewer']), 2, /sluice token create needs NAME/);
  failsWith(await cli(undefined, ['token', 'create', 'bad name', '--role', 'viewer']), 1, /token name "bad name" is not valid/);
  failsWith(await cli(undefined, ['token', 'frob']), 2, /unknown token action "frob" — one of create, list, revoke/);
  failsWith(await cli(undefined, ['audit', '--limit', 'many']), 2, /--limit must be a positive integer/);
  failsWith(await cli('sl_nothere_x', ['whoami']), 1, /unknown API token/);
});
