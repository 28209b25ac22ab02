// Rehearsing a migration on a copy of the environment (`t2t rehearse`): what it
// reports is what the real migrate then does, and the original environment and the
// control plane are as they were afterwards, however the rehearsal ended (success,
// a migrate that fails for good, a mapping with errors, a cancellation). Real dev
// server, real Azurite, a real control-plane database; the copy itself also on PostgreSQL.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { sql } from 'kysely';
import { RunningAzurite } from './helpers/azurite';
import { useRealServers } from './helpers/servers';
import { makeTestWorld, TestWorld } from './helpers/world';
import { startProduct, Product, ProductOptions, uploadWithSas, rawClientEnv } from './helpers/product';
import { CONTROL_PLANE_BACKENDS, startBackend } from './helpers/backends';
import { SearchAttributes, REHEARSAL_WORKFLOW_TYPE, rehearsalCopyId, rehearsalWorkflowId, rehearsalWorkflowIdOfCopy, type RehearsalReport } from '../src/contracts';
import { RehearsalClient } from '../src/client/rehearsals';
import { UserError } from '../src/client/migrations';
import { SimulatedMigrationService } from '../src/service/simulated';
import { openMigrationService } from '../src/service';
import { NOT_SUPPORTED } from '../src/service/migration-service';
import { createControlPlane, openDatabase } from '../src/controlplane/database';
import { parseWorld } from '../src/controlplane/world';
import type { ControlPlane } from '../src/controlplane/control-plane';
import { loadConfig } from '../src/config';
import { runCli } from '../src/client/cli';
import { projectRoot } from '../src/temporal-binaries';

const CLI = path.join(projectRoot(), 'dist', 'src', 'client', 'cli.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every row of every control-plane table (SQLite's own counters aside), in a stable order. */
async function snapshot(databaseUrl: string): Promise<Record<string, unknown[]>> {
  const { db, release } = await openDatabase(databaseUrl);
  try {
    const tables = await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`.execute(db);
    const dump: Record<string, unknown[]> = {};
    for (const { name } of tables.rows) {
      const rows = (await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(name)}`.execute(db)).rows;
      dump[name] = rows.map((row) => JSON.stringify(row)).sort();
    }
    return dump;
  } finally {
    await release();
  }
}

describe('rehearsal copies in the control plane', () => {
  for (const backend of CONTROL_PLANE_BACKENDS) {
    it(`${backend.name}: a copy is whole, marked, not listed, idempotent, and removed with its users and re-mappings; a real environment is never removed`, async function () {
      this.timeout(60_000);
      await startBackend(backend);
      const w = makeTestWorld({ users: 3, unmappedUsers: 1 });
      const cp: ControlPlane = await createControlPlane(await backend.url());
      try {
        await cp.migrateSchema();
        await cp.loadWorld(parseWorld(w.world));
        const copyId = rehearsalCopyId(w.environmentId, new Date('2025-01-02T03:04:05.006Z'));
        assert.equal(copyId, `${w.environmentId}~rehearsal-20250102T030405006Z`);
        const copy = await cp.copyEnvironment(w.environmentId, { id: copyId, name: 'Contoso Sales (rehearsal copy)' });
        assert.equal(copy.copyOf, w.environmentId);
        assert.equal(copy.tenantId, w.source);
        assert.equal(await cp.countEnvironmentUsers(copyId), await cp.countEnvironmentUsers(w.environmentId));
        assert.equal((await cp.copyEnvironment(w.environmentId, { id: copyId, name: 'again' })).name, 'Contoso Sales (rehearsal copy)', 'a retry finds its copy');
        await assert.rejects(cp.copyEnvironment(w.environmentId, { id: w.environmentId, name: 'x' }), /taken by another environment/);
        assert.deepEqual((await cp.listEnvironments(w.source)).map((e) => e.id), [w.environmentId], 'copies are not listed with the inventory');
        assert.deepEqual((await cp.listEnvironmentCopies(w.environmentId)).map((e) => e.id), [copyId]);
        assert.equal(rehearsalWorkflowIdOfCopy(copy), rehearsalWorkflowId(w.environmentId, new Date('2025-01-02T03:04:05.006Z')));

        // what a migrate does to the copy is removed with it; the original keeps its users
        await cp.remapEnvironmentUsers(copyId, 'rehearsal-1', [{ sourceUpn: w.sourceUpn(1), targetUpn: w.targetUpn(1) }]);
        assert.equal((await cp.listRemaps('rehearsal-1')).length, 1);
        assert.ok(await cp.getEnvironmentUser(w.environmentId, w.sourceUpn(1)), 'the original is untouched');
        await assert.rejects(cp.removeEnvironmentCopy(w.environmentId), /not a rehearsal copy/);
        assert.ok(await cp.getEnvironment(w.environmentId));
        assert.equal(await cp.removeEnvironmentCopy(copyId), true);
        assert.equal(await cp.removeEnvironmentCopy(copyId), false, 'idempotent');
        assert.equal(await cp.getEnvironment(copyId), undefined);
        assert.equal(await cp.countEnvironmentUsers(copyId), 0);
        assert.deepEqual(await cp.listRemaps('rehearsal-1'), []);
        assert.equal(await cp.countEnvironmentUsers(w.environmentId), 5);
      } finally {
        await cp.close();
      }
    });
  }
});

describe('rehearsal of a migration (dev server) @integration', function () {
  this.timeout(240_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;
  let dir: string;

  useRealServers((servers) => ({ env, azurite } = servers));
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 't2t-rehearsal-'));
  });

  function rehearsals(p: Product): RehearsalClient {
    const service = new SimulatedMigrationService({ controlPlane: p.controlPlane, storage: p.storage, sasValidityMs: p.config.sasValidityMs, remapBatchSize: p.config.remapBatchSize });
    return new RehearsalClient({ client: env.client, service, taskQueue: p.config.taskQueue, controlPlane: p.controlPlane });
  }

  function mappingFile(text: string): string {
    const folder = path.join(dir, randomBytes(4).toString('hex'));
    mkdirSync(folder);
    const file = path.join(folder, 'usermapping.csv');
    writeFileSync(file, text);
    return file;
  }

  async function withProduct(options: Partial<ProductOptions>, w: TestWorld, body: (p: Product) => Promise<void>): Promise<void> {
    const p = await startProduct({ env, azurite, world: w.world, ...options });
    try {
      await body(p);
    } finally {
      await p.stop();
    }
  }

  function t2t(p: Product, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const childEnv = rawClientEnv(p, env.address);
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: childEnv, cwd: dir }, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      });
    });
  }

  it('reports the counts the real migrate then produces, with each step timed, and leaves the control plane as it was', async () => {
    const w = makeTestWorld({ users: 4, unmappedUsers: 2 });
    await withProduct({}, w, async (p) => {
      const before = await snapshot(p.config.databaseUrl);
      const file = mappingFile(w.mappingCsv);
      const run = await t2t(p, ['--as', w.sourceAdmin, '--json', 'rehearse', '--environment', w.environmentId, '--target-tenant', w.target, '--file', file]);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      const document = JSON.parse(run.stdout) as RehearsalReport & { workflowId: string; people: { unmappedUsers: string[]; mailboxesToReconfigure: string[]; remapped: unknown[] } };
      assert.equal(document.outcome, 'Succeeded', document.reason);
      assert.equal(document.copyRemoved, true);
      assert.match(document.copyEnvironmentId!, new RegExp(`^${w.environmentId}~rehearsal-\\d{8}T\\d{9}Z$`));
      const summary = document.summary!;
      assert.deepEqual(
        [summary.usersRemapped, summary.unmappedUsers, summary.mailboxesConfigured, summary.mailboxesToReconfigure, summary.onmicrosoftAddressesRewritten],
        [4, 3, 3, 1, 1],
      );
      // the names behind the counts, from the rehearsal's container, never from the workflow's history
      assert.deepEqual([...document.people.unmappedUsers].sort(), [w.sourceAdmin, 'left0@contoso.com', 'left1@contoso.com'].sort());
      assert.deepEqual(document.people.mailboxesToReconfigure, [w.targetUpn(2)]);
      assert.equal(document.people.remapped.length, 4);
      const steps = document.steps.map((s) => s.step);
      for (const step of ['eligibility', 'copy', 'validation', 'relink', 'remap', 'mailboxes', 'sourceAccessOff', 'checklist', 'removeCopy']) assert.ok(steps.includes(step), `step ${step} is timed`);
      assert.ok(document.steps.every((s) => s.ms >= 0));
      assert.ok(document.cutoverMs! > 0);
      assert.ok(document.warnings.length > 0, 'the preparation warnings the real submit shows');
      assert.deepEqual(document.findings, []);

      // visible in the Web UI as its own workflow, with the search attributes that fit and no address in them
      const handle = env.client.workflow.getHandle(document.workflowId);
      const description = await handle.describe();
      assert.equal(description.type, REHEARSAL_WORKFLOW_TYPE);
      assert.equal(description.typedSearchAttributes.get(SearchAttributes.environmentId), w.environmentId);
      assert.equal(description.typedSearchAttributes.get(SearchAttributes.targetTenantId), w.target);
      assert.equal(description.typedSearchAttributes.get(SearchAttributes.phase), undefined, 'not counted among the migrations');
      assert.doesNotMatch(JSON.stringify(description.raw.workflowExecutionInfo?.searchAttributes ?? {}), /@/);
      const metadata = (await handle.query('__temporal_workflow_metadata')) as { definition?: unknown; currentDetails?: string };
      assert.match(String(metadata.currentDetails), /\*\*Rehearsal:\*\* Succeeded/);
      assert.match(String(metadata.currentDetails), /\(removed\)/);
      assert.doesNotMatch(String(metadata.currentDetails), /@/);

      // what a person reads: the names, the checklist, the steps and the window to book
      const human = await t2t(p, ['--as', w.sourceAdmin, 'rehearse', '--environment', w.environmentId, '--target-tenant', w.target, '--file', file]);
      assert.equal(human.code, 0, human.stdout + human.stderr);
      assert.match(human.stdout, /: Succeeded\n/);
      assert.match(human.stdout, /Users re-mapped: 4; left behind \(not in the mapping, not migrated\): 3\n/);
      assert.match(human.stdout, new RegExp(`mailbox to reconfigure: ${w.targetUpn(2)}\n`));
      assert.match(human.stdout, /Post-migration checklist:\n/);
      assert.match(human.stdout, /\* Re-map users +\d/);
      assert.match(human.stdout, /Cutover: .* on this copy/);
      assert.doesNotMatch(human.stdout, /rehearsal copy\)/, 'the checklist names the original');

      // nothing of either rehearsal is left: not the copy, its users, its re-mappings
      assert.deepEqual(await snapshot(p.config.databaseUrl), before);

      // the real migration then does what the rehearsal said
      const submitted = await p.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      await p.client.act(submitted.targetMigrationId, 'approve', { actor: w.targetAdmin });
      const storage = await p.client.act(submitted.migrationId, 'requestStorage', { actor: w.sourceAdmin });
      await uploadWithSas(storage.status.storage!.sasUrl, w.mappingCsv);
      const prepared = await p.client.act(submitted.migrationId, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: storage.status.storage!.sasUrl });
      assert.equal(prepared.status.phase, 'Prepared');
      await p.client.act(submitted.migrationId, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      const final = await p.client.waitForStatus(await p.client.find(submitted.migrationId), (s) => s.phase === 'Succeeded' || s.phase === 'Failed', 120_000);
      assert.equal(final.phase, 'Succeeded', final.reason);
      assert.deepEqual(final.summary, summary);
    });
  });

  it('a migrate that fails for good on the copy: reported as what would fail, the copy removed, the control plane as it was', async () => {
    const w = makeTestWorld({ users: 3, unmappedUsers: 1 });
    const failOnCopies = (cp: ControlPlane): ControlPlane =>
      new Proxy(cp, {
        get(target, prop, receiver) {
          if (prop === 'remapEnvironmentUsers') {
            return async (...args: Parameters<ControlPlane['remapEnvironmentUsers']>) => {
              if (args[0].includes('~rehearsal-')) throw ApplicationFailure.nonRetryable('the directory refused the identity', 'PreconditionFailed');
              return target.remapEnvironmentUsers(...args);
            };
          }
          return Reflect.get(target, prop, receiver) as unknown;
        },
      });
    await withProduct({ wrapControlPlane: failOnCopies }, w, async (p) => {
      const before = await snapshot(p.config.databaseUrl);
      const { report } = await rehearsals(p).rehearse({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin, file: mappingFile(w.mappingCsv) });
      assert.equal(report.outcome, 'Failed');
      assert.match(String(report.reason), /^the migrate would fail: re-mapping users failed: the directory refused the identity; undone: .*environment re-linked back/);
      assert.doesNotMatch(String(report.reason), /~rehearsal-/, 'told about the environment the admin named');
      assert.equal(report.copyRemoved, true);
      assert.equal(report.summary, undefined);
      assert.deepEqual(await snapshot(p.config.databaseUrl), before);
    });
  });

  it('a mapping with errors: validation fails on the copy, the copy removed; storage preconditions are findings', async () => {
    const w = makeTestWorld({ users: 2, unmappedUsers: 0, adminMode: false });
    await withProduct({}, w, async (p) => {
      const before = await snapshot(p.config.databaseUrl);
      const bad = `${w.mappingCsv}left0@contoso.com,nobody@fabrikam.com\n`;
      const { report } = await rehearsals(p).rehearse({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin, file: mappingFile(bad) });
      assert.equal(report.outcome, 'ValidationFailed');
      assert.equal(report.validation?.errors, 2, 'left0 is not a user of the source tenant and nobody not of the target');
      assert.match(String(report.reason), /2 error\(s\): prepare would fail/);
      assert.deepEqual(report.findings, [`storage would be refused: environment '${w.environmentId}' is not in administration mode; turn administration mode on first`]);
      assert.equal(report.copyRemoved, true);
      assert.deepEqual(await snapshot(p.config.databaseUrl), before);
    });
  });

  it('cancelled through Temporal while the copy migrates: the copy is removed, and the run ends cancelled', async () => {
    const w = makeTestWorld({ users: 6, unmappedUsers: 0 });
    const slow = (cp: ControlPlane): ControlPlane =>
      new Proxy(cp, {
        get(target, prop, receiver) {
          if (prop === 'remapEnvironmentUsers') {
            return async (...args: Parameters<ControlPlane['remapEnvironmentUsers']>) => {
              await sleep(1_000);
              return target.remapEnvironmentUsers(...args);
            };
          }
          return Reflect.get(target, prop, receiver) as unknown;
        },
      });
    await withProduct({ wrapControlPlane: slow, remapBatchSize: 1 }, w, async (p) => {
      const before = await snapshot(p.config.databaseUrl);
      let workflowId = '';
      const running = rehearsals(p).rehearse({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin, file: mappingFile(w.mappingCsv) }, (id) => {
        workflowId = id;
      });
      // wait until users of the copy are being re-mapped
      const deadline = Date.now() + 60_000;
      for (;;) {
        const copies = await p.controlPlane.listEnvironmentCopies(w.environmentId);
        if (copies.length === 1 && (await p.controlPlane.getEnvironment(copies[0].id))?.tenantId === w.target) break;
        assert.ok(Date.now() < deadline, 'the copy was never re-linked');
        await sleep(100);
      }
      await env.client.workflow.getHandle(workflowId).cancel();
      const { report } = await running;
      assert.equal(report.outcome, 'Cancelled');
      assert.equal(report.copyRemoved, true);
      await assert.rejects(env.client.workflow.getHandle(workflowId).result(), (err: unknown) => err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure);
      assert.deepEqual(await p.controlPlane.listEnvironmentCopies(w.environmentId), []);
      assert.deepEqual(await snapshot(p.config.databaseUrl), before);
    });
  });

  it('refused with one line, nothing started: the wrong admin, an environment already there, an unknown one, a wrong file name; a copy left by a terminated rehearsal is removed by the next', async () => {
    const w = makeTestWorld({ users: 1, unmappedUsers: 0 });
    await withProduct({}, w, async (p) => {
      const client = rehearsals(p);
      const file = mappingFile(w.mappingCsv);
      const before = await snapshot(p.config.databaseUrl);
      await assert.rejects(client.rehearse({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.targetAdmin, file }), (err: Error) =>
        err instanceof UserError && /^rehearse refused: the caller is not a user of the source tenant/.test(err.message));
      await assert.rejects(client.rehearse({ environmentId: w.environmentId, targetTenantId: w.source, actor: w.sourceAdmin, file }), (err: Error) =>
        err instanceof UserError && /already belongs to tenant/.test(err.message));
      await assert.rejects(client.rehearse({ environmentId: 'env-nowhere', targetTenantId: w.target, actor: w.sourceAdmin, file }), (err: Error) =>
        err instanceof UserError && /^rehearse refused: environment 'env-nowhere' does not exist$/.test(err.message));
      await assert.rejects(client.rehearse({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin, file: path.join(dir, 'mapping.csv') }), (err: Error) =>
        err instanceof UserError && /must be named exactly usermapping\.csv/.test(err.message));
      assert.deepEqual(await snapshot(p.config.databaseUrl), before);
      const listed = [];
      for await (const execution of env.client.workflow.list({ query: `WorkflowType = '${REHEARSAL_WORKFLOW_TYPE}' AND ${SearchAttributes.environmentId.name} = '${w.environmentId}'` })) listed.push(execution);
      assert.equal(listed.length, 0, 'no rehearsal was started');

      // a rehearsal terminated mid-way ran no cleanup: the next one removes its copy first
      const leftover = rehearsalCopyId(w.environmentId, new Date(Date.now() - 60_000));
      await p.controlPlane.copyEnvironment(w.environmentId, { id: leftover, name: 'left over' });
      const run = await client.rehearse({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin, file });
      assert.deepEqual(run.leftoversRemoved, [leftover]);
      assert.equal(run.report.outcome, 'Succeeded', run.report.reason);
      assert.deepEqual(await snapshot(p.config.databaseUrl), before);
    });
  });

  it('the Microsoft back end cannot copy environments: its port says so, and t2t rehearse stops with that one line', async () => {
    const folder = mkdtempSync(path.join(os.tmpdir(), 't2t-ms-'));
    const tenantsFile = path.join(folder, 'tenants.json');
    writeFileSync(tenantsFile, JSON.stringify({ tenants: [{ tenantId: '5a0c0e11-0000-4000-8000-00000000c0de', clientId: 'app', clientSecret: 'not-a-secret' }] }));
    const environment = { T2T_BACKEND: 'microsoft', T2T_MICROSOFT_TENANTS_FILE: tenantsFile, T2T_DATA_DIR: folder, TEMPORAL_ADDRESS: '127.0.0.1:1' };
    const { service } = await openMigrationService(loadConfig(environment), { controlPlane: undefined as never });
    assert.equal(service.canCopyEnvironments, false);
    await assert.rejects(service.copyEnvironment('env-sales', 'env-sales~rehearsal-1'), (err: Error) =>
      err instanceof ApplicationFailure && err.type === NOT_SUPPORTED && err.nonRetryable && /cannot copy environments/.test(err.message));
    await assert.rejects(service.stagingStorage('m-1'), (err: Error) => err instanceof ApplicationFailure && err.type === NOT_SUPPORTED);
    assert.equal(await service.migrationPeople({ migrationId: 'm-1', environmentId: 'env-sales', sourceTenantId: 'a', targetTenantId: 'b' }), undefined);

    writeFileSync(path.join(folder, 'usermapping.csv'), 'Source,Destination\n');
    let out = '';
    let err = '';
    const code = await runCli(['--as', 'admin@contoso.com', 'rehearse', '--environment', 'env-sales', '--target-tenant', 't-fabrikam', '--file', path.join(folder, 'usermapping.csv')], {
      env: environment,
      out: (s) => (out += s),
      err: (s) => (err += s),
    });
    assert.equal(code, 1);
    assert.equal(out, '');
    assert.equal(err, 't2t: rehearse refused: the microsoft back end cannot copy environments, so it cannot rehearse a migration: rehearsals run on the simulated back end only (T2T_BACKEND=simulated)\n');
  });
});
