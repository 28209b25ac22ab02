// Several processes on one SQLite file at the same moment — the worker and the
// CLI do this — each re-mapping the same users: every write lands, none fails
// with "database is locked", and each user is re-mapped exactly once.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createControlPlane } from '../src/controlplane/database';
import { parseWorld } from '../src/controlplane/world';

const USERS = 150;
const source = (i: number) => `user${i}@contoso.com`;
const target = (i: number) => `user${i}@fabrikam.com`;

function bigWorld(): unknown {
  const users = Array.from({ length: USERS }, (_, i) => i);
  return {
    tenants: [
      { id: 't-contoso', name: 'Contoso', cloud: 'Public', defaultDomain: 'contoso.onmicrosoft.com', users: users.map((i) => ({ upn: source(i), licenses: ['E3'] })) },
      { id: 't-fabrikam', name: 'Fabrikam', cloud: 'Public', defaultDomain: 'fabrikam.onmicrosoft.com', users: users.map((i) => ({ upn: target(i), licenses: ['E3'] })) },
    ],
    environments: [
      { id: 'env-big', name: 'Big', type: 'Production', url: 'https://big.crm.dynamics.com', orgId: 'org-big', tenantId: 't-contoso', users: users.map((i) => ({ upn: source(i) })) },
    ],
  };
}

// Runs in a child process: opens the file itself, as a second worker or the CLI would.
const CHILD = `
const { createControlPlane } = require(process.env.CP_MODULE);
(async () => {
  const cp = await createControlPlane(process.env.CP_FILE);
  await cp.migrateSchema();
  // All children start writing at the same moment, whatever their start-up time.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(process.env.CP_START_AT) - Date.now())));
  let applied = 0;
  for (const [sourceUpn, targetUpn] of JSON.parse(process.env.CP_PAIRS)) {
    if ((await cp.remapEnvironmentUser('env-big', 'm-proc', sourceUpn, targetUpn)).applied) applied += 1;
    await cp.setAdminMode('env-big', applied % 2 === 0);
  }
  await cp.close();
  process.stdout.write(String(applied));
})().catch((err) => { process.stderr.write(String(err && err.message)); process.exit(1); });
`;

function runChild(file: string, pairs: [string, string][], startAt: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CHILD], {
      env: { ...process.env, CP_MODULE: path.join(__dirname, '..', 'src', 'controlplane', 'database.js'), CP_FILE: file, CP_PAIRS: JSON.stringify(pairs), CP_START_AT: String(startAt) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(`child process failed (${code}): ${err}`))));
  });
}

describe('control plane on one SQLite file shared by several processes', function () {
  this.timeout(120_000);

  it('three processes re-mapping the same users at once: each user exactly once, no lock errors', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 't2t-cp-proc-')), 'control-plane.sqlite');
    const cp = await createControlPlane(file);
    try {
      await cp.migrateSchema();
      await cp.loadWorld(parseWorld(bigWorld()));
      const pairs = Array.from({ length: USERS }, (_, i): [string, string] => [source(i), target(i)]);
      const orders = [pairs, [...pairs].reverse(), pairs.filter((_, i) => i % 2 === 1).concat(pairs.filter((_, i) => i % 2 === 0))];
      // The parent keeps reading meanwhile, as `t2t status` would.
      let reading = true;
      const reader = (async () => {
        let reads = 0;
        while (reading) {
          await cp.countEnvironmentUsers('env-big');
          reads += 1;
          await new Promise((r) => setTimeout(r, 5));
        }
        return reads;
      })();
      const startAt = Date.now() + 1500;
      const applied = await Promise.all(orders.map((order) => runChild(file, order, startAt)));
      reading = false;
      assert.ok((await reader) > 0);

      assert.equal(applied.reduce((a, b) => a + b, 0), USERS, `applied per process: ${applied.join(', ')}`);
      const remaps = await cp.listRemaps('m-proc');
      assert.equal(remaps.length, USERS);
      assert.ok(remaps.every((r) => r.appliedCount === 1));
      const users = await cp.listEnvironmentUsers('env-big', { limit: USERS + 1 });
      assert.equal(users.length, USERS);
      assert.ok(users.every((u) => u.upn.endsWith('@fabrikam.com') && u.previousUpn === u.upn.replace('@fabrikam.com', '@contoso.com')));
    } finally {
      await cp.close();
    }
  });
});
