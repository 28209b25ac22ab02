// An admin's action (approve, deny, prepare, …) without the Temporal client: the
// migration found and its Update sent through the lean reader, then its status
// read. Whatever is not an accepted action — the validator's refusal (which the
// client records in the audit trail and notifies), a run that ended or continued
// as new, any fault — is handed to the Temporal
// client's path with the same request id, so an Update the server already ran is
// answered from its record, never run twice.
import { randomUUID } from 'node:crypto';
import type { ConnectionConfig } from '../../config';
import type { AuditEntry, MigrationStatus } from '../../contracts';
import { actionUpdates, statusQuery } from '../../contracts';
import type { ActionOutcome, SignalAction } from '../migrations';
import { findRun } from '../status-reader';
import { UserError } from '../user-error';
import { LeanTemporal } from './lean-temporal';

/** The outcome, or the request id the Temporal client's path must send the action with (undefined: none sent yet). */
export type LeanActionResult = { outcome: ActionOutcome } | { requestId?: string };

export async function leanAct(
  config: ConnectionConfig,
  migrationId: string,
  action: SignalAction,
  payload: Record<string, unknown> & { actor: string },
  env: NodeJS.ProcessEnv = process.env,
  ackTimeoutMs = 600_000,
): Promise<LeanActionResult> {
  const reader = LeanTemporal.open(config, env);
  if (!reader) return {};
  try {
    let run;
    try {
      run = await findRun(reader, migrationId);
    } catch (err) {
      if (err instanceof UserError) throw err;
      return {};
    }
    const requestId = randomUUID();
    try {
      const answer = await reader.update(run, actionUpdates[action].name, { ...payload, requestId }, requestId, ackTimeoutMs);
      if (!('value' in answer)) return { requestId };
      const status = (await reader.query(run, statusQuery.name)) as MigrationStatus;
      return { outcome: { entry: answer.value as AuditEntry, status } };
    } catch {
      return { requestId };
    }
  } finally {
    reader.close();
  }
}
