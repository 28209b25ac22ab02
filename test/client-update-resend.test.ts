// An action's Update whose call times out before its answer (a worker busy with many
// wake-ups) is sent again with the same update id, which the server runs once.
import assert from 'node:assert/strict';
import { WorkflowUpdateRPCTimeoutOrCancelledError, type Client, type WorkflowHandle } from '@temporalio/client';
import { MigrationClient } from '../src/client/migrations';
import type { MigrationService } from '../src/service/migration-service';
import type { AuditEntry } from '../src/contracts';

function fakeHandle(timeoutsFirst: number, sent: { updateId?: string; args: unknown[] }[]): WorkflowHandle {
  return {
    workflowId: 'migration-env-1',
    async executeUpdate(_def: unknown, options: { args: unknown[]; updateId?: string }) {
      sent.push(options);
      if (sent.length <= timeoutsFirst) throw new WorkflowUpdateRPCTimeoutOrCancelledError('Timed out waiting for Update to complete');
      const entry: AuditEntry = { at: '2026-12-02T00:00:00Z', action: 'approve', actor: 'admin@fabrikam.example', outcome: 'accepted', requestId: options.updateId };
      return entry;
    },
    async query() {
      return { migrationId: 'm-1', phase: 'Approved', audit: [] };
    },
  } as unknown as WorkflowHandle;
}

const client = (ackTimeoutMs?: number) =>
  new MigrationClient({
    client: {} as Client,
    config: { taskQueue: 'q', approvalTimeoutMs: 1, lockboxTimeoutMs: 1, prepareWindowMs: 1 },
    service: {} as MigrationService,
    ...(ackTimeoutMs !== undefined ? { ackTimeoutMs } : {}),
  });

describe('an action whose Update call times out', () => {
  it('is sent again with the same update id until it is answered', async () => {
    const sent: { updateId?: string; args: unknown[] }[] = [];
    const outcome = await client().actOn(fakeHandle(2, sent), 'approve', { actor: 'admin@fabrikam.example' });
    assert.equal(sent.length, 3);
    assert.equal(new Set(sent.map((s) => s.updateId)).size, 1, 'one update id for every send');
    assert.equal(outcome.entry.outcome, 'accepted');
    assert.equal(outcome.entry.requestId, sent[0].updateId);
  });

  it('gives up with the timeout once the wait for an answer is spent', async () => {
    const sent: { updateId?: string; args: unknown[] }[] = [];
    const handle = fakeHandle(Number.MAX_SAFE_INTEGER, sent);
    (handle as unknown as { describe: () => Promise<unknown> }).describe = async () => ({ status: { name: 'RUNNING' } });
    await assert.rejects(client(0).actOn(handle, 'approve', { actor: 'admin@fabrikam.example' }), WorkflowUpdateRPCTimeoutOrCancelledError);
    assert.equal(sent.length, 1);
  });
});
