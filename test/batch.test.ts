// A batch's story on the real dev server: migrations waiting for people hold no
// migrate slot, at most `concurrency` migrate at once, a migration waiting for a
// slot can still be cancelled, and a batch of thousands keeps its history short
// by continuing as new while its status query goes on counting every environment.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { ScheduleNotFoundError, type WorkflowHandle } from '@temporalio/client';
import {
  BATCH_WORKFLOW_TYPE,
  BatchInput,
  BatchStatus,
  MigrationStatus,
  batchStatusQuery,
  batchWorkflowId,
  grantMigrateSlotSignal,
  migrationWorkflowId,
  statusQuery,
} from '../src/contracts';
import type { ControlPlane } from '../src/controlplane/control-plane';
import { submitBatch } from '../src/client/migrations';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from './helpers/temporal';
import { RunningAzurite } from './helpers/azurite';
import { useRealServers } from './helpers/servers';
import { makeTestWorld, TestWorld } from './helpers/world';
import { startProduct, Product, uploadWithSas } from './helpers/product';
import { recordHistory } from './helpers/histories';
import { ensureReconcilerSchedule, reconcilerScheduleId } from '../src/reconciler/schedule';

/** Holds each environment's re-link (the first step of migrate) until the test opens its gate. */
class MigrateGates {
  private readonly gates = new Map<string, { opened: Promise<void>; open: () => void }>();

  close(environmentId: string): void {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    this.gates.set(environmentId, { opened, open });
  }

  open(environmentId: string): void {
    this.gates.get(environmentId)?.open();
  }

  /** After a failed test: a re-link held for ever would hold the worker's shutdown too, and hide the failure. */
  openAll(): void {
    for (const gate of this.gates.values()) gate.open();
  }

  wrap = (cp: ControlPlane): ControlPlane =>
    new Proxy(cp, {
      get: (target, prop, receiver) => {
        if (prop === 'relinkEnvironment') {
          return async (...args: Parameters<ControlPlane['relinkEnvironment']>) => {
            await this.gates.get(args[0])?.opened;
            return target.relinkEnvironment(...args);
          };
        }
        return Reflect.get(target, prop, receiver);
      },
    });
}

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}: ${JSON.stringify(value).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Waits until the batch has started the migration and it waits for the target admin's approval. */
function awaitingApproval(child: WorkflowHandle): Promise<MigrationStatus | undefined> {
  return until(`${child.workflowId} awaits approval`, () => child.query(statusQuery).catch(() => undefined), (s) => s?.phase === 'PendingApproval');
}

describe('batches: migrate slots, not places held while people decide @integration', function () {
  this.timeout(300_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;

  useRealServers((servers) => ({ env, azurite } = servers));

  /** The batch, the migrations it started, and checks that no two ever hold a migrate slot at once. */
  async function submitted(p: Product, w: TestWorld, concurrency: number) {
    const submission = await submitBatch(
      { client: env.client, controlPlane: p.controlPlane, config: p.config },
      { sourceTenantId: w.source, targetTenantId: w.target, actor: w.sourceAdmin, concurrency },
    );
    const batch = env.client.workflow.getHandle(batchWorkflowId(submission.batchId));
    const children = submission.environments.map((e) => env.client.workflow.getHandle(migrationWorkflowId(e.environmentId)));
    let mostMigrating = 0;
    let mostInSlots = 0;
    const terminated = new Set<string>();
    /** The batch's status, checking on each look that at most `concurrency` migrations hold a slot or migrate. */
    const look = async (): Promise<BatchStatus> => {
      const status = await batch.query(batchStatusQuery);
      const held = status.outcomes.filter((o) => o.migrateSlot === 'held').length;
      assert.ok(held <= concurrency && status.migrating <= concurrency, `at most ${concurrency} hold a migrate slot: ${held}`);
      mostInSlots = Math.max(mostInSlots, held);
      // A terminated run answers its query with the phase it stopped in for ever: it migrates no more.
      const phases = await Promise.all(children.filter((c) => !terminated.has(c.workflowId)).map((c) => c.query(statusQuery).then((s) => s.phase, () => undefined)));
      const migrating = phases.filter((phase) => phase === 'Migrating').length;
      assert.ok(migrating <= concurrency, `at most ${concurrency} migrating: ${migrating}`);
      mostMigrating = Math.max(mostMigrating, migrating);
      return status;
    };
    return { submission, batch, children, look, terminated, most: () => ({ mostMigrating, mostInSlots }) };
  }

  /** approve → storage → upload → prepare, as the two admins do */
  async function prepared(p: Product, w: TestWorld, child: WorkflowHandle) {
    await awaitingApproval(child);
    assert.equal((await p.client.actOn(child, 'approve', { actor: w.targetAdmin })).entry.outcome, 'accepted');
    const storage = await p.client.actOn(child, 'requestStorage', { actor: w.sourceAdmin });
    await uploadWithSas(storage.status.storage!.sasUrl, w.mappingCsv);
    const done = await p.client.actOn(child, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: storage.status.storage!.sasUrl });
    assert.equal(done.status.phase, 'Prepared', done.status.reason);
  }

  it('one environment waits for approval for ever; the other two migrate, one at a time, and succeed', async () => {
    const w = makeTestWorld({ environments: 3 });
    const gates = new MigrateGates();
    const p = await startProduct({ env, azurite, world: w.world, wrapControlPlane: gates.wrap });
    try {
      const { submission, batch, children, look, most } = await submitted(p, w, 1);
      const [waiting, first, second] = submission.environments.map((e) => e.environmentId);
      // All three are started at once: nobody waits for the approval of another environment.
      for (const child of children) await awaitingApproval(child);
      await prepared(p, w, children[1]);
      await prepared(p, w, children[2]);

      gates.close(first);
      const migrateFirst = await p.client.actOn(children[1], 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      assert.equal(migrateFirst.entry.outcome, 'accepted');
      await p.client.waitForStatus(children[1], (s) => s.phase === 'Migrating');
      const migrateSecond = await p.client.actOn(children[2], 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      assert.equal(migrateSecond.entry.outcome, 'accepted');

      // The second waits for the slot, still Prepared; the first environment, awaiting approval, holds none.
      const queued = await until('the second waits for the slot', look, (s) => s.waitingForSlot === 1);
      assert.deepEqual(
        queued.outcomes.map((o) => [o.environmentId, o.migrateSlot]),
        [[waiting, undefined], [first, 'held'], [second, 'queued']],
      );
      const secondWaiting = await children[2].query(statusQuery);
      assert.equal(secondWaiting.phase, 'Prepared');
      assert.equal(secondWaiting.migrateSlot, 'requested');

      gates.open(first);
      const ended = await until('both migrated', look, (s) => s.outcomes.filter((o) => o.phase === 'Succeeded').length === 2);
      assert.equal(ended.outcomes[0].state, 'running', 'the first environment is still waiting for its approval');
      assert.equal((await children[0].query(statusQuery)).phase, 'PendingApproval');
      assert.deepEqual(most(), { mostMigrating: 1, mostInSlots: 1 });
      for (const id of [first, second]) assert.equal((await p.controlPlane.getEnvironment(id))!.tenantId, w.target);

      // The batch ends when the last one does, however it ends.
      await p.client.actOn(children[0], 'cancel', { actor: w.sourceAdmin });
      const done = await until('the batch is done', () => batch.query(batchStatusQuery), (s) => s.done);
      assert.deepEqual(done.summary, { Succeeded: 2, Cancelled: 1 });
      assert.equal(done.migrating, 0);
      // done is reported before the batch's last workflow task completes it.
      await batch.result();
      const description = await batch.describe();
      assert.equal(description.status.name, 'COMPLETED');
      await recordHistory(batch, 'batch-migrate-slots');
      await recordHistory(children[2], 'batch-waited-for-slot');
    } finally {
      await p.stop();
    }
  });

  it('a migration waiting for a slot can be cancelled, and the slot goes to the next in line', async () => {
    const w = makeTestWorld({ environments: 3 });
    const gates = new MigrateGates();
    const p = await startProduct({ env, azurite, world: w.world, wrapControlPlane: gates.wrap });
    try {
      const { submission, batch, children, look } = await submitted(p, w, 1);
      const [holder, cancelled, next] = submission.environments.map((e) => e.environmentId);
      for (const child of children) await prepared(p, w, child);

      gates.close(holder);
      await p.client.actOn(children[0], 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      await p.client.waitForStatus(children[0], (s) => s.phase === 'Migrating');
      await p.client.actOn(children[1], 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      await p.client.actOn(children[2], 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      await until('two wait for the slot', look, (s) => s.waitingForSlot === 2);

      const cancel = await p.client.actOn(children[1], 'cancel', { actor: w.sourceAdmin, reason: 'not this one after all' });
      assert.equal(cancel.entry.outcome, 'accepted');
      assert.equal(cancel.status.phase, 'Cancelled');
      const afterCancel = await until('the cancelled one left the queue', look, (s) => s.outcomes[1].state === 'ended');
      assert.equal(afterCancel.outcomes[1].phase, 'Cancelled');
      assert.equal(afterCancel.outcomes[1].migrateSlot, undefined);
      assert.deepEqual([afterCancel.migrating, afterCancel.waitingForSlot], [1, 1]);

      gates.open(holder);
      const done = await until('the batch is done', look, (s) => s.done);
      assert.deepEqual(done.summary, { Succeeded: 2, Cancelled: 1 });
      assert.equal((await p.controlPlane.getEnvironment(cancelled))!.tenantId, w.source, 'the cancelled environment did not move');
      assert.equal((await p.controlPlane.getEnvironment(next))!.tenantId, w.target, 'the next in line migrated');
      await batch.result();
      assert.equal((await batch.describe()).status.name, 'COMPLETED');
    } finally {
      await p.stop();
    }
  });

  it('a migration whose seven-day window lapses while it waits for a slot gives up its place', async () => {
    const w = makeTestWorld({ environments: 2 });
    const gates = new MigrateGates();
    // A window of seconds stands for the seven days.
    const p = await startProduct({ env, azurite, world: w.world, wrapControlPlane: gates.wrap, durations: { prepareWindowMs: 6_000 } });
    try {
      const { submission, batch, children, look } = await submitted(p, w, 1);
      const [holder] = submission.environments.map((e) => e.environmentId);
      gates.close(holder);
      await prepared(p, w, children[0]);
      await p.client.actOn(children[0], 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      await p.client.waitForStatus(children[0], (s) => s.phase === 'Migrating');
      await prepared(p, w, children[1]);
      await p.client.actOn(children[1], 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      await until('the second waits for the slot', look, (s) => s.waitingForSlot === 1);

      const lapsed = await p.client.waitForStatus(children[1], (s) => s.phase === 'PreparationExpired', 30_000);
      assert.equal(lapsed.migrateSlot, undefined);
      const status = await until('the lapsed one left the queue', look, (s) => s.waitingForSlot === 0);
      assert.equal(status.outcomes[1].state, 'running', 'it goes on: prepare again, then migrate');

      gates.open(holder);
      await until('the first migrated', look, (s) => s.outcomes[0].phase === 'Succeeded' && s.migrating === 0);
      assert.equal((await children[1].query(statusQuery)).phase, 'PreparationExpired', 'no slot was given to it meanwhile');
      await p.client.actOn(children[1], 'cancel', { actor: w.sourceAdmin });
      assert.deepEqual((await until('the batch is done', () => batch.query(batchStatusQuery), (s) => s.done)).summary, { Succeeded: 1, Cancelled: 1 });
    } finally {
      await p.stop();
    }
  });

  it('a migration terminated while it holds the only slot, and one terminated while it waits for people: the reconciler tells the batch, the next in line migrates, the batch ends', async () => {
    const w = makeTestWorld({ environments: 3 });
    const gates = new MigrateGates();
    const p = await startProduct({ env, azurite, world: w.world, wrapControlPlane: gates.wrap, reconciler: true });
    const schedule = env.client.schedule.getHandle(reconcilerScheduleId(p.config.taskQueue));
    try {
      const { submission, batch, children, look, terminated, most } = await submitted(p, w, 1);
      const [holder, next, waiting] = submission.environments.map((e) => e.environmentId);
      await prepared(p, w, children[0]);
      await prepared(p, w, children[1]);
      await awaitingApproval(children[2]);
      gates.close(holder);
      await p.client.actOn(children[0], 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      await p.client.waitForStatus(children[0], (s) => s.phase === 'Migrating');
      await p.client.actOn(children[1], 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      await until('the second waits for the slot', look, (s) => s.waitingForSlot === 1);

      // An operator terminates two of them: none of their code runs, so neither tells the batch.
      await children[0].terminate('ended by an operator while migrating');
      await children[2].terminate('ended by an operator while it waited for approval');
      terminated.add(children[0].workflowId).add(children[2].workflowId);
      // The re-link the terminated migration was in finishes; its result goes nowhere.
      gates.open(holder);
      const before = await look();
      assert.deepEqual(before.outcomes.map((o) => [o.environmentId, o.state, o.migrateSlot]), [[holder, 'running', 'held'], [next, 'running', 'queued'], [waiting, 'running', undefined]]);

      // The reconciler's Schedule, at a test's pace, finds both and tells the batch.
      await ensureReconcilerSchedule(env.client, { taskQueue: p.config.taskQueue, reconcileIntervalMs: 2_000 });
      const done = await until('the batch is done', look, (s) => s.done);
      assert.deepEqual(done.summary, { Terminated: 2, Succeeded: 1 });
      assert.deepEqual(done.outcomes.map((o) => [o.environmentId, o.phase]), [[holder, 'Terminated'], [next, 'Succeeded'], [waiting, 'Terminated']]);
      assert.match(done.outcomes[0].reason ?? '', /TERMINATED.*reconciler/);
      assert.deepEqual([done.migrating, done.waitingForSlot], [0, 0]);
      assert.equal((await p.controlPlane.getEnvironment(next))!.tenantId, w.target, 'the next in line migrated');
      assert.deepEqual(most(), { mostMigrating: 1, mostInSlots: 1 });
      await batch.result();
      assert.equal((await batch.describe()).status.name, 'COMPLETED');
    } finally {
      gates.openAll();
      await schedule.delete().catch((err: unknown) => {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      });
      await p.stop();
    }
  });

  it('a late grant meant for a request withdrawn since is ignored: the migration waits for its own, and nothing migrates uncounted', async () => {
    const w = makeTestWorld({ environments: 2 });
    const gates = new MigrateGates();
    const p = await startProduct({ env, azurite, world: w.world, wrapControlPlane: gates.wrap });
    try {
      const { submission, batch, children, look, most } = await submitted(p, w, 1);
      const [holder, next] = submission.environments.map((e) => e.environmentId);
      await prepared(p, w, children[0]);
      gates.close(holder);
      await p.client.actOn(children[0], 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      await p.client.waitForStatus(children[0], (s) => s.phase === 'Migrating');

      // The second asks for the slot, withdraws (prepare again), and asks again.
      await prepared(p, w, children[1]);
      await p.client.actOn(children[1], 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      const first = await children[1].query(statusQuery);
      assert.equal(first.migrateSlot, 'requested');
      const storage = first.storage!;
      const again = await p.client.actOn(children[1], 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: storage.sasUrl });
      assert.equal(again.status.phase, 'Prepared');
      assert.equal(again.status.migrateSlot, undefined, 'a new prepare withdraws the request');
      await p.client.actOn(children[1], 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
      await until('the second waits for the slot again', look, (s) => s.waitingForSlot === 1);

      // The batch's grant of the first request, late: sent here by hand, as if it had crossed the withdrawal.
      await children[1].signal(grantMigrateSlotSignal, { environmentId: next, request: first.migrateSlotRequest });
      // A query waits for the workflow task that handles the signal: it shows what the grant did.
      const waitingStill = await children[1].query(statusQuery);
      assert.equal(waitingStill.phase, 'Prepared', 'it did not migrate on the stale grant');
      assert.equal(waitingStill.migrateSlot, 'requested');
      assert.notEqual(waitingStill.migrateSlotRequest, first.migrateSlotRequest);
      const counted = await look();
      assert.deepEqual([counted.migrating, counted.waitingForSlot], [1, 1]);

      gates.open(holder);
      const done = await until('the batch is done', look, (s) => s.done);
      assert.deepEqual(done.summary, { Succeeded: 2 });
      assert.deepEqual(most(), { mostMigrating: 1, mostInSlots: 1 });
      await batch.result();
    } finally {
      gates.openAll();
      await p.stop();
    }
  });

  it('a grant and a cancellation through Temporal in one workflow task: the cleanup runs to its end, and the batch is told', async () => {
    const w = makeTestWorld({ environments: 1 });
    const p = await startProduct({ env, azurite, world: w.world });
    try {
      const { submission, batch, children } = await submitted(p, w, 1);
      const [only] = submission.environments;
      await awaitingApproval(children[0]);
      // With no worker, both land in the migration's history before it runs again: one activation handles them together.
      await p.stopWorker();
      await children[0].signal(grantMigrateSlotSignal, { environmentId: only.environmentId, request: 'a request of no one' });
      await children[0].cancel();
      await p.startWorker();

      await assert.rejects(children[0].result());
      assert.equal((await children[0].describe()).status.name, 'CANCELLED');
      const status = await children[0].query(statusQuery);
      assert.equal(status.phase, 'Cancelled', 'the cleanup ran to its end');
      assert.equal((await p.controlPlane.getRequest(only.migrationId))?.approvalStatus, 'Deleted', 'the request was closed as a cancellation');
      const done = await until('the batch is done', () => batch.query(batchStatusQuery), (s) => s.done);
      assert.deepEqual(done.summary, { Cancelled: 1 });
    } finally {
      await p.stop();
    }
  });

  it('a large batch continues as new, keeps each run under its history limit, and counts every environment', async function () {
    // 1,000 keeps the test under two minutes on two cores; T2T_TEST_BATCH_SIZE=5000 is the full-size run (nine minutes there).
    const count = Number(process.env.T2T_TEST_BATCH_SIZE ?? 1_000);
    const limit = 1_000;
    this.timeout(900_000);
    const w = makeTestWorld({ environments: count, users: 0, unmappedUsers: 0 });
    // Managed environments are refused at submit: each migration ends in a few activities.
    for (const e of (w.world as { environments: { managed: boolean }[] }).environments) e.managed = true;
    const p = await startProduct({ env, azurite, world: w.world });
    try {
      const batchId = randomUUID();
      const input: BatchInput = {
        batchId,
        sourceTenantId: w.source,
        targetTenantId: w.target,
        submittedBy: w.sourceAdmin,
        environments: w.environmentIds.map((environmentId) => ({ environmentId, migrationId: randomUUID(), targetMigrationId: randomUUID() })),
        concurrency: 5,
        approvalTimeoutMs: p.config.approvalTimeoutMs,
        lockboxTimeoutMs: p.config.lockboxTimeoutMs,
        prepareWindowMs: p.config.prepareWindowMs,
        continueAfterEvents: limit,
      };
      const started = Date.now();
      const workflowId = batchWorkflowId(batchId);
      await env.client.workflow.start(BATCH_WORKFLOW_TYPE, { taskQueue: p.config.taskQueue, workflowId, args: [input] });
      const batch = env.client.workflow.getHandle(workflowId);
      let status: BatchStatus;
      let lastProgress = 0;
      for (;;) {
        status = await batch.query(batchStatusQuery);
        if (status.done) break;
        assert.ok(Date.now() - started < 840_000, 'the batch finished in time');
        const ended = status.outcomes.filter((o) => o.state === 'ended').length;
        if (Date.now() - lastProgress > 30_000) {
          console.log(`      ${Math.round((Date.now() - started) / 1000)}s: run ${status.run}, ${ended} of ${count} ended`);
          lastProgress = Date.now();
        }
        // Not more often: with thousands of environments the status is about a megabyte.
        await new Promise((r) => setTimeout(r, 5_000));
      }
      const seconds = (Date.now() - started) / 1000;
      assert.equal(status.outcomes.length, count);
      assert.ok(status.outcomes.every((o) => o.state === 'ended' && o.phase === 'Failed' && /Managed Environment/.test(o.reason ?? '')));
      assert.deepEqual(status.summary, { Failed: count });

      // Visibility is eventually consistent: wait until it lists every run, the last one closed.
      const runs = await until(
        'every run is listed',
        async () => {
          const listed: { runId: string; status: string }[] = [];
          for await (const execution of env.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) listed.push({ runId: execution.runId, status: execution.status.name });
          return listed;
        },
        (listed) => listed.length === status.run && listed.some((r) => r.status === 'COMPLETED'),
        30_000,
      );
      const lengths = await Promise.all(runs.map(async (run) => (await env.client.workflow.getHandle(workflowId, run.runId).describe()).historyLength));
      console.log(`      ${count} environments in ${seconds.toFixed(1)}s; ${runs.length} runs; history lengths ${lengths.join(', ')} (limit ${limit})`);
      assert.ok(runs.length >= 3, `continued as new several times (${runs.length} runs)`);
      assert.equal(runs.filter((r) => r.status === 'COMPLETED').length, 1);
      assert.equal(runs.filter((r) => r.status === 'CONTINUED_AS_NEW').length, runs.length - 1);
      for (const length of lengths) assert.ok(length <= limit && length < 20_000, `a run's history stays under ${limit} events: ${length}`);

      // A full run replays deterministically (a worker that lost the batch from its cache does this), and quickly.
      const longest = runs[lengths.indexOf(Math.max(...lengths))];
      const history = await env.client.workflow.getHandle(workflowId, longest.runId).fetchHistory();
      const replayStarted = Date.now();
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, longest.runId);
      console.log(`      the longest run (${Math.max(...lengths)} events) replays in ${Date.now() - replayStarted} ms`);
    } finally {
      await p.stop();
    }
  });
});
