// Moving an environment back (`t2t moveback`): after a migration has succeeded, the
// reverse migration, with the inverse user mapping generated from what was
// re-mapped, takes the same approvals, checks and window as any migration; the two
// are linked in status and the Web UI; and an environment moved there and back is
// as it was. Real dev server, real Azurite, a real control-plane database, and `t2t`
// as a separate process.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { RunningAzurite } from './helpers/azurite';
import { useRealServers } from './helpers/servers';
import { makeTestWorld, TestWorld } from './helpers/world';
import { startProduct, Product, uploadWithSas, readWithSas, rawClientEnv } from './helpers/product';
import { migrationWorkflowId, type MigrationStatus } from '../src/contracts';
import { describeEnvironment } from '../src/controlplane/describe';
import { projectRoot } from '../src/temporal-binaries';
import * as tar from 'tar';

const CLI = path.join(projectRoot(), 'dist', 'src', 'client', 'cli.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json: () => Record<string, unknown>;
}

describe('move-back of a migration @integration', function () {
  this.timeout(240_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;
  let w: TestWorld;
  let p: Product;
  let dir: string;

  useRealServers((servers) => ({ env, azurite } = servers));
  before(async () => {
    w = makeTestWorld({ users: 4, unmappedUsers: 1 });
    p = await startProduct({ env, azurite, world: w.world });
    dir = mkdtempSync(path.join(os.tmpdir(), 't2t-moveback-'));
  });
  after(async () => {
    await p?.stop();
  });

  function t2t(args: string[]): Promise<Run> {
    const childEnv = rawClientEnv(p, env.address, { T2T_EVIDENCE_HMAC_KEY: 'a test key for evidence packs, forty characters' });
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: childEnv, cwd: dir }, (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr, json: () => JSON.parse(stdout) as Record<string, unknown> });
      });
    });
  }

  /** What must be as it was after there and back: the tenant, and each user's identity, roles and directory entry (mailbox included). */
  async function picture() {
    const described = (await describeEnvironment(p.controlPlane, w.environmentId))!;
    return {
      tenantId: described.environment.tenantId,
      url: described.environment.url,
      orgId: described.environment.orgId,
      name: described.environment.name,
      adminMode: described.environment.adminMode,
      users: described.users.map((u) => ({ upn: u.upn, roles: [...u.roles].sort(), directory: u.directory })),
    };
  }

  /** A whole migration with both admins: submit, approve, storage, upload, prepare, migrate. */
  async function migrate(submitted: MigrationStatus, admins: { source: string; target: string }, targetTenantId: string, mapping?: string): Promise<MigrationStatus> {
    const approved = await p.client.act(submitted.targetMigrationId, 'approve', { actor: admins.target });
    assert.equal(approved.entry.outcome, 'accepted', approved.entry.reason);
    const storage = await p.client.act(submitted.migrationId, 'requestStorage', { actor: admins.source });
    assert.equal(storage.entry.outcome, 'accepted', storage.entry.reason);
    const sasUrl = storage.status.storage!.sasUrl;
    if (mapping !== undefined) await uploadWithSas(sasUrl, mapping);
    const prepared = await p.client.act(submitted.migrationId, 'prepare', { actor: admins.source, targetTenantId, mappingContainer: sasUrl });
    assert.equal(prepared.status.phase, 'Prepared', prepared.status.reason ?? prepared.status.status);
    const migrated = await p.client.act(submitted.migrationId, 'migrate', { actor: admins.source, targetTenantId });
    assert.equal(migrated.entry.outcome, 'accepted', migrated.entry.reason);
    const final = await p.client.waitForStatus(await p.client.find(submitted.migrationId), (s) => s.phase === 'Succeeded' || s.phase === 'Failed', 120_000);
    assert.equal(final.phase, 'Succeeded', final.reason);
    return final;
  }

  it('there and back with full approvals both ways: the environment is as it was, and the two migrations name each other', async () => {
    const original = await picture();
    assert.equal(original.tenantId, w.source);
    // The source admin is mapped too, so that the target admin is a Basic User of the environment after the move.
    const mapping = `${w.mappingCsv}${w.sourceAdmin},${w.targetAdmin}\n`;
    const admins = { source: w.sourceAdmin, target: w.targetAdmin };

    const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
    // refused before it succeeded
    const early = await t2t(['--as', w.targetAdmin, 'moveback', '--migration-id', submitted.migrationId]);
    assert.equal(early.code, 1);
    assert.equal(early.stderr, `t2t: moveback refused: migration ${submitted.migrationId} did not succeed (it is PendingApproval); only a migration that has succeeded can be moved back\n`);
    const there = await migrate(submitted, admins, w.target, mapping);
    assert.equal((await picture()).tenantId, w.target);

    // refused: unknown, and the original's source admin, who no longer administers the environment's tenant
    const unknown = await t2t(['--as', w.targetAdmin, 'moveback', '--migration-id', '00000000-0000-4000-8000-000000000000']);
    assert.equal(unknown.stderr, "t2t: no migration has the id '00000000-0000-4000-8000-000000000000'\n");
    const wrong = await t2t(['--as', w.sourceAdmin, 'moveback', '--migration-id', there.migrationId]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, new RegExp(`^t2t: moveback refused: the caller is not a user of the source tenant; only .* \\(${w.target}\\) may do this\\n$`));
    const handle = env.client.workflow.getHandle(migrationWorkflowId(w.environmentId));
    assert.equal((await handle.describe()).status.name, 'COMPLETED', 'a refusal starts nothing');

    // the target admin opens the move-back, by the target migration id it knows
    const out = path.join(dir, 'usermapping.csv');
    const opened = await t2t(['--as', w.targetAdmin, '--json', 'moveback', '--migration-id', there.targetMigrationId, '--out', out]);
    assert.equal(opened.code, 0, opened.stdout + opened.stderr);
    const document = opened.json() as { migrationId: string; targetMigrationId: string; phase: string; reversesMigrationId: string; sourceTenantId: string; targetTenantId: string; mappingRows: number; skippedUsers: string[]; mappingUrl: string; containerUri: string };
    assert.equal(document.phase, 'PendingApproval');
    assert.equal(document.reversesMigrationId, there.migrationId);
    assert.equal(document.sourceTenantId, w.target);
    assert.equal(document.targetTenantId, w.source);
    assert.equal(document.mappingRows, 5);
    assert.deepEqual(document.skippedUsers, []);
    const inverse = ['Source,Destination', ...[0, 1, 2, 3].map((i) => `${w.targetUpn(i)},${w.sourceUpn(i)}`), `${w.targetAdmin},${w.sourceAdmin}`];
    assert.deepEqual(readFileSync(out, 'utf8').trimEnd().split('\n').sort(), inverse.sort());

    // linked both ways: the reverse's status and Web UI details, the original's status
    const reverse = await p.client.status(document.migrationId);
    assert.equal(reverse.reversesMigrationId, there.migrationId);
    const metadata = (await env.client.workflow.getHandle(migrationWorkflowId(w.environmentId)).query('__temporal_workflow_metadata')) as { currentDetails?: string };
    assert.match(String(metadata.currentDetails), new RegExp(`\\*\\*Move-back of migration:\\*\\* \`${there.migrationId}\``));
    const reversed = await eventually(() => p.client.status(there.migrationId), (s) => s.reversedBy !== undefined);
    assert.deepEqual(reversed.reversedBy, { migrationId: document.migrationId, phase: 'PendingApproval' });
    const shown = await t2t(['--as', w.sourceAdmin, 'status', '--migration-id', there.migrationId]);
    assert.match(shown.stdout, new RegExp(`Reversed by move-back ${document.migrationId} \\(PendingApproval\\)`));

    // one move-back at a time
    const again = await t2t(['--as', w.targetAdmin, 'moveback', '--migration-id', there.migrationId]);
    assert.equal(again.stderr, `t2t: moveback refused: a move-back of migration ${there.migrationId} is already open: migration ${document.migrationId} (PendingApproval)\n`);

    // the reverse is a migration like any other: the original source admin approves, the target admin prepares
    // with the uploaded file unchanged (read with the SAS the storage step gives) and migrates
    const back = { source: w.targetAdmin, target: w.sourceAdmin };
    const approved = await p.client.act(reverse.targetMigrationId, 'approve', { actor: back.target });
    assert.equal(approved.entry.outcome, 'accepted', approved.entry.reason);
    const storage = await p.client.act(reverse.migrationId, 'requestStorage', { actor: back.source });
    assert.equal(storage.entry.outcome, 'accepted', storage.entry.reason);
    assert.equal(storage.status.storage!.containerName, document.containerUri.split('/').pop());
    const [base, query] = storage.status.storage!.sasUrl.split('?');
    assert.equal(await readWithSas(`${base}/usermapping.csv?${query}`), readFileSync(out, 'utf8'), 'the file to review is in the container');
    const prepared = await p.client.act(reverse.migrationId, 'prepare', { actor: back.source, targetTenantId: w.source, mappingContainer: document.containerUri });
    assert.equal(prepared.status.phase, 'Prepared', prepared.status.reason ?? prepared.status.status);
    await p.client.act(reverse.migrationId, 'migrate', { actor: back.source, targetTenantId: w.source });
    const home = await p.client.waitForStatus(await p.client.find(reverse.migrationId), (s) => s.phase === 'Succeeded' || s.phase === 'Failed', 120_000);
    assert.equal(home.phase, 'Succeeded', home.reason);
    assert.equal(home.summary?.usersRemapped, 5);

    // as it was: tenant, every user's identity and roles, their directory entries (mailboxes) in its tenant
    assert.deepEqual(await picture(), original);
    const environment = (await p.controlPlane.getEnvironment(w.environmentId))!;
    assert.equal(environment.previousTenantId, w.target, 'it remembers where it came back from');

    const done = await eventually(() => p.client.status(there.migrationId), (s) => s.reversedBy?.phase === 'Succeeded');
    assert.equal(done.reversedBy?.migrationId, reverse.migrationId);
    const twice = await t2t(['--as', w.targetAdmin, 'moveback', '--migration-id', there.migrationId]);
    assert.equal(twice.stderr, `t2t: moveback refused: migration ${there.migrationId} was moved back already, by migration ${reverse.migrationId}\n`);

    // the evidence packs name each other too
    const packed = async (migrationId: string) => {
      const file = path.join(dir, `evidence-${migrationId}.tar.gz`);
      const made = await t2t(['--as', w.sourceAdmin, 'evidence', '--migration-id', migrationId, '--out', file]);
      assert.equal(made.code, 0, made.stderr);
      const into = mkdtempSync(path.join(os.tmpdir(), 't2t-evidence-'));
      await tar.x({ file, cwd: into });
      return {
        facts: JSON.parse(readFileSync(path.join(into, `t2t-evidence-${migrationId}`, 'migration.json'), 'utf8')) as { reversesMigrationId: string | null; reversedBy: { migrationId: string; phase?: string } | null },
        readme: readFileSync(path.join(into, `t2t-evidence-${migrationId}`, 'README.txt'), 'utf8'),
      };
    };
    const originalPack = await packed(there.migrationId);
    assert.deepEqual(originalPack.facts.reversedBy, { migrationId: reverse.migrationId, phase: 'Succeeded' });
    assert.equal(originalPack.facts.reversesMigrationId, null);
    assert.match(originalPack.readme, new RegExp(`Reversed by: +move-back ${reverse.migrationId}`));
    const reversePack = await packed(reverse.migrationId);
    assert.equal(reversePack.facts.reversesMigrationId, there.migrationId);
    assert.match(reversePack.readme, new RegExp(`Move-back of: +migration ${there.migrationId}`));
  });
});

/** Visibility is eventually consistent: reads until `done` holds (or 20 s pass). */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await sleep(250);
  }
}
