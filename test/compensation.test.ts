// SPEC §2 step 10 on the real dev server, Azurite and a control-plane database
// file: a migrate step that fails for good leaves the environment as it was
// before migrate, says what was undone, and the same migration can run again;
// a transient fault is only retried.
import assert from 'node:assert/strict';
import { ApplicationFailure, defaultPayloadConverter, type Payload } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import { STATUS, MigrationStatus } from '../src/contracts';
import type { ControlPlane } from '../src/controlplane/control-plane';
import {
  COMPENSATION_FAILED,
  MIGRATE_COMPENSATED,
  MIGRATE_STEP_DESCRIPTIONS,
  type CompensationDetails,
  type SimulatedMigrateStep,
} from '../src/service/simulated-migrate';
import { RunningAzurite } from './helpers/azurite';
import { useRealServers } from './helpers/servers';
import { makeTestWorld, TestWorld } from './helpers/world';
import { startProduct, Product, uploadWithSas } from './helpers/product';

type Method = keyof ControlPlane;

/** A fault the worker's control plane throws from `method`, once armed (after `after` was called, when given). */
interface Fault {
  method: Method;
  after?: Method;
  /** calls to let through first */
  skip?: number;
  /** how many calls fail (then it lets everything through) */
  times?: number;
  error: () => Error;
}

const REMAP_BATCH = 2;
const USERS = 3;

const permanent = (method: Method): (() => Error) => () => ApplicationFailure.nonRetryable(`injected permanent fault (${method})`, 'InjectedFault');
const transient = (method: Method): (() => Error) => () => new Error(`control plane unavailable (injected in ${method})`);

/** Each migrate step that has an effect, where its fault is injected, and what must be undone after it. */
const CASES: { step: SimulatedMigrateStep; fault: Fault; undone: (w: TestWorld) => string[] }[] = [
  {
    step: 'administrationModeOn',
    fault: { method: 'setAdminMode', error: permanent('setAdminMode') },
    undone: () => [],
  },
  {
    step: 'relink',
    fault: { method: 'relinkEnvironment', error: permanent('relinkEnvironment') },
    undone: () => ['administration mode restored (off)'],
  },
  {
    // the second batch: the first one's users are re-mapped already
    step: 'remap',
    fault: { method: 'remapEnvironmentUsers', skip: 1, error: permanent('remapEnvironmentUsers') },
    undone: (w) => [`users re-mapped back (${REMAP_BATCH})`, `environment re-linked back to ${w.source}`, 'administration mode restored (off)'],
  },
  {
    // configuring mailboxes starts by reading the tenants, right after the last batch
    step: 'mailboxes',
    fault: { method: 'getTenant', after: 'remapEnvironmentUsers', error: permanent('getTenant') },
    undone: (w) => [`users re-mapped back (${USERS})`, `environment re-linked back to ${w.source}`, 'administration mode restored (off)'],
  },
  {
    step: 'sourceAccessOff',
    fault: { method: 'setSourceAccess', error: permanent('setSourceAccess') },
    undone: (w) => [`users re-mapped back (${USERS})`, `environment re-linked back to ${w.source}`, 'administration mode restored (off)'],
  },
  {
    step: 'restoreAdministrationMode',
    fault: { method: 'setAdminMode', skip: 1, error: permanent('setAdminMode') },
    undone: (w) => ['source access restored', `users re-mapped back (${USERS})`, `environment re-linked back to ${w.source}`, 'administration mode restored (off)'],
  },
];

/** What migrate may change, and what compensation must put back. */
async function snapshot(cp: ControlPlane, environmentId: string, migrationId: string) {
  const environment = (await cp.getEnvironment(environmentId))!;
  return {
    tenantId: environment.tenantId,
    previousTenantId: environment.previousTenantId,
    adminMode: environment.adminMode,
    sourceAccess: environment.sourceAccess,
    users: (await cp.listEnvironmentUsers(environmentId)).map((u) => ({ upn: u.upn, previousUpn: u.previousUpn, roles: u.roles })),
    remaps: await cp.listRemaps(migrationId),
  };
}

/** The migrate activity's failures for good, as recorded in the history (retried attempts are not). */
async function activityFailures(handle: WorkflowHandle) {
  const history = await handle.fetchHistory();
  return (history.events ?? []).flatMap((event) => {
    const failure = event.activityTaskFailedEventAttributes?.failure;
    const info = failure?.applicationFailureInfo;
    if (!failure || !info) return [];
    const details = (info.details?.payloads ?? []).map((p) => defaultPayloadConverter.fromPayload(p as Payload));
    return [{ message: failure.message, type: info.type, nonRetryable: info.nonRetryable, details: details[0] as CompensationDetails | undefined }];
  });
}

const migrateEnded = (s: MigrationStatus) =>
  s.phase === 'Succeeded' || s.phase === 'Failed' || (s.phase === 'Approved' && s.status === STATUS.migrateFailed);

describe('a migrate step that fails for good is undone (dev server) @integration', function () {
  this.timeout(240_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;
  let w: TestWorld;
  let p: Product;
  let faults: (Fault & { seenAfter: boolean; fired: number })[] = [];
  let calls: Partial<Record<Method, number>> = {};

  useRealServers((servers) => ({ env, azurite } = servers));
  before(async () => {
    // one environment per test, all in one world, so that one worker serves the file
    w = makeTestWorld({ users: USERS, unmappedUsers: 1, environments: CASES.length + 3 });
    p = await startProduct({
      env,
      azurite,
      world: w.world,
      remapBatchSize: REMAP_BATCH,
      wrapControlPlane: (cp) =>
        new Proxy(cp, {
          get(target, prop, receiver) {
            const value: unknown = Reflect.get(target, prop, receiver);
            if (typeof value !== 'function') return value;
            const method = prop as Method;
            return async (...args: unknown[]) => {
              calls[method] = (calls[method] ?? 0) + 1;
              for (const armed of faults) {
                if (method === armed.after) armed.seenAfter = true;
                if (method === armed.method && (armed.after === undefined || armed.seenAfter)) {
                  if ((armed.skip ?? 0) > 0) armed.skip! -= 1;
                  else if (armed.fired < (armed.times ?? 1)) {
                    armed.fired += 1;
                    throw armed.error();
                  }
                }
              }
              return (value as (...a: unknown[]) => unknown).apply(target, args);
            };
          },
        }),
    });
  });
  after(async () => {
    await p?.stop();
  });

  function arm(...armed: Fault[]) {
    faults = armed.map((f) => ({ ...f, seenAfter: false, fired: 0 }));
    calls = {};
  }

  /** Stops injecting; how often each fault fired. */
  function disarm(): number[] {
    const fired = faults.map((f) => f.fired);
    faults = [];
    return fired;
  }

  /** submit → approve → storage → upload → prepare, for one environment of the world */
  async function toPrepared(environmentId: string) {
    const submitted = await p.client.submit({ environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
    await p.client.act(submitted.targetMigrationId, 'approve', { actor: w.targetAdmin });
    const storage = await p.client.act(submitted.migrationId, 'requestStorage', { actor: w.sourceAdmin });
    const sasUrl = storage.status.storage!.sasUrl;
    await uploadWithSas(sasUrl, w.mappingCsv);
    const prepared = await p.client.act(submitted.migrationId, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: sasUrl });
    assert.equal(prepared.status.phase, 'Prepared', prepared.status.reason);
    return { submitted, sasUrl };
  }

  async function migrate(migrationId: string): Promise<MigrationStatus> {
    const migrating = await p.client.act(migrationId, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
    assert.equal(migrating.entry.outcome, 'accepted', migrating.entry.reason);
    return p.client.waitForStatus(await p.client.find(migrationId), migrateEnded, 120_000);
  }

  async function assertMigratedOnce(environmentId: string, migrationId: string) {
    const remaps = await p.controlPlane.listRemaps(migrationId);
    assert.equal(remaps.length, USERS);
    assert.ok(remaps.every((r) => r.appliedCount === 1), 'every user re-mapped exactly once');
    for (let i = 0; i < USERS; i += 1) {
      assert.equal((await p.controlPlane.getEnvironmentUser(environmentId, w.targetUpn(i)))?.previousUpn, w.sourceUpn(i));
    }
    const environment = (await p.controlPlane.getEnvironment(environmentId))!;
    assert.deepEqual([environment.tenantId, environment.previousTenantId, environment.sourceAccess, environment.adminMode], [w.target, w.source, false, false]);
  }

  CASES.forEach(({ step, fault: injected, undone: undoneOf }, k) => {
    it(`${MIGRATE_STEP_DESCRIPTIONS[step]} fails for good: the environment is as before migrate, and the migration runs again`, async () => {
      const environmentId = w.environmentIds[k];
      const { submitted, sasUrl } = await toPrepared(environmentId);
      // Turned off after the upload, so that putting the administration mode back is seen.
      await p.controlPlane.setAdminMode(environmentId, false);
      const before = await snapshot(p.controlPlane, environmentId, submitted.migrationId);

      arm(injected);
      const failed = await migrate(submitted.migrationId);
      assert.deepEqual(disarm(), [1], 'the fault was injected');

      assert.deepEqual(await snapshot(p.controlPlane, environmentId, submitted.migrationId), before);
      const undone = undoneOf(w);
      const expected = `${MIGRATE_STEP_DESCRIPTIONS[step]} failed: injected permanent fault (${injected.method}); ${undone.length > 0 ? `undone: ${undone.join(', ')}` : 'nothing had changed'}`;
      const failures = await activityFailures(await p.client.find(submitted.migrationId));
      assert.deepEqual(failures.at(-1), { message: expected, type: MIGRATE_COMPENSATED, nonRetryable: true, details: { failedStep: step, undone } });

      assert.equal(failed.phase, 'Approved', failed.reason);
      assert.equal(failed.status, STATUS.migrateFailed);
      for (const phrase of undone) assert.ok(failed.reason?.includes(phrase), `the reason names "${phrase}": ${failed.reason}`);

      const prepared = await p.client.act(submitted.migrationId, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: sasUrl });
      assert.equal(prepared.status.phase, 'Prepared', prepared.entry.reason ?? prepared.status.reason);
      const final = await migrate(submitted.migrationId);
      assert.equal(final.phase, 'Succeeded', final.reason);
      assert.equal(final.summary?.usersRemapped, USERS);
      await assertMigratedOnce(environmentId, submitted.migrationId);
    });
  });

  it('a transient fault (source access, twice) is retried: the migration succeeds, resumed at that step, with nothing undone', async () => {
    const environmentId = w.environmentIds[CASES.length];
    const { submitted } = await toPrepared(environmentId);
    await p.controlPlane.setAdminMode(environmentId, false);

    arm({ method: 'setSourceAccess', times: 2, error: transient('setSourceAccess') });
    const final = await migrate(submitted.migrationId);
    assert.deepEqual(disarm(), [2]);

    assert.equal(final.phase, 'Succeeded', final.reason);
    assert.equal(final.summary?.usersRemapped, USERS);
    // each retry of the activity resumed from its heartbeat instead of starting over
    assert.deepEqual([calls.relinkEnvironment, calls.remapEnvironmentUsers, calls.setSourceAccess, calls.undoRemaps, calls.relinkBack], [1, 2, 3, undefined, undefined]);
    assert.deepEqual(await activityFailures(await p.client.find(submitted.migrationId)), []);
    await assertMigratedOnce(environmentId, submitted.migrationId);
  });
  it('an undo that keeps failing transiently is resumed by the next attempt of the activity, never the steps', async () => {
    const environmentId = w.environmentIds[CASES.length + 1];
    const { submitted } = await toPrepared(environmentId);
    await p.controlPlane.setAdminMode(environmentId, false);
    const before = await snapshot(p.controlPlane, environmentId, submitted.migrationId);

    // more failures than the in-process attempts: the activity fails retryably and Temporal retries it
    arm({ method: 'setSourceAccess', error: permanent('setSourceAccess') }, { method: 'undoRemaps', times: 5, error: transient('undoRemaps') });
    const failed = await migrate(submitted.migrationId);
    assert.deepEqual(disarm(), [1, 5]);

    assert.equal(failed.phase, 'Approved', failed.reason);
    assert.deepEqual(await snapshot(p.controlPlane, environmentId, submitted.migrationId), before);
    // the retry went on undoing from the heartbeat: no step ran twice
    assert.deepEqual([calls.relinkEnvironment, calls.remapEnvironmentUsers, calls.setSourceAccess], [1, 2, 1]);
    const failures = await activityFailures(await p.client.find(submitted.migrationId));
    assert.deepEqual(failures.at(-1)?.details, {
      failedStep: 'sourceAccessOff',
      undone: [`users re-mapped back (${USERS})`, `environment re-linked back to ${w.source}`, 'administration mode restored (off)'],
    });
  });

  it('an undo that fails for good: CompensationFailed names what could not be undone and what was', async () => {
    const environmentId = w.environmentIds[CASES.length + 2];
    const { submitted } = await toPrepared(environmentId);
    await p.controlPlane.setAdminMode(environmentId, false);

    arm({ method: 'setSourceAccess', error: permanent('setSourceAccess') }, { method: 'relinkBack', error: permanent('relinkBack') });
    const failed = await migrate(submitted.migrationId);
    assert.deepEqual(disarm(), [1, 1]);

    const failures = await activityFailures(await p.client.find(submitted.migrationId));
    const undone = [`users re-mapped back (${USERS})`, 'administration mode restored (off)'];
    const notUndone = [`environment re-linked back to ${w.source} (injected permanent fault (relinkBack))`];
    assert.deepEqual(failures.at(-1), {
      message: `${MIGRATE_STEP_DESCRIPTIONS.sourceAccessOff} failed: injected permanent fault (setSourceAccess); could not undo: ${notUndone[0]}; undone: ${undone.join(', ')}`,
      type: COMPENSATION_FAILED,
      nonRetryable: true,
      details: { failedStep: 'sourceAccessOff', undone, notUndone },
    });
    assert.equal(failed.phase, 'Failed', failed.reason);
    assert.ok(failed.reason?.includes('could not undo'), failed.reason);
    // the other undos ran all the same
    const environment = (await p.controlPlane.getEnvironment(environmentId))!;
    assert.deepEqual([environment.tenantId, environment.adminMode, environment.sourceAccess], [w.target, false, true]);
    assert.deepEqual(await p.controlPlane.listRemaps(submitted.migrationId), []);
    assert.equal((await p.controlPlane.getEnvironmentUser(environmentId, w.sourceUpn(1)))?.previousUpn, null);
  });
});
