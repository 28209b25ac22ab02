// A worker's start-up check that it holds every key the open migrations were
// written with: a worker missing one would fail each of those migrations'
// workflow tasks over and over, mid-migration, instead of once, here, in one line.
import type { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { encryptionOf } from './aes-gcm-codec';
import type { KeyRing } from './keys';

/** Open migrations looked at: the most recently started ones, whose inputs carry the keys in use now. */
const SAMPLE = 20;

export class MissingPayloadKeyError extends Error {
  override name = 'MissingPayloadKeyError';
}

export async function checkKeysOfOpenMigrations(client: Client, taskQueue: string, ring: KeyRing | undefined): Promise<void> {
  const held = ring ? [...ring.keys.keys()] : [];
  const query = `TaskQueue = '${taskQueue.replace(/'/g, "\\'")}' AND ExecutionStatus = 'Running'`;
  // The raw service call: the SDK's list would decode each memo, and fail on the first one under a missing key.
  const listed = await client.workflowService.listWorkflowExecutions({ namespace: client.options.namespace, query, pageSize: SAMPLE });
  for (const info of listed.executions ?? []) {
    const execution = { workflowId: info.execution?.workflowId ?? '', runId: info.execution?.runId ?? '' };
    const page = await client.workflowService.getWorkflowExecutionHistory({
      namespace: client.options.namespace,
      execution: { workflowId: execution.workflowId, runId: execution.runId },
      maximumPageSize: 1,
    });
    const input = page.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
    for (const payload of input as Payload[]) {
      const keyId = encryptionOf(payload)?.keyId;
      if (keyId !== undefined && !held.includes(keyId)) {
        throw new MissingPayloadKeyError(
          `payload encryption: open migration ${execution.workflowId} is encrypted with key '${keyId}', which this worker does not hold` +
            ` (${held.length ? held.join(', ') : 'no keys'}): add it to the payload keys (docs/deployment.md)`,
        );
      }
    }
  }
}
