// The gateway's proofs on a migration (T2T_AUTH=on on the worker): its start carries a signed
// submit, and each admin action its own proof; who acted is the proof's verified user, never
// the name typed in the payload. What anyone can send with Temporal's own tools counts only signed.
import { submitProofPayload, type ProofCheck } from '../../identity/action-proof';
import type { InboxMessage } from '../inbox';
import { SignedActions } from '../signed-actions';
import type { Migration } from './state';

/**
 * Reads the sign-in policy from the worker; then, for a start that needs it, checks the signed
 * submit: undefined when the migration may go on (the submitter is then the proof's user), else
 * why the start is refused. A run continued from this migration's own (continue-as-new), or a
 * batch's migration (its parent recorded by Temporal, see `forged`), was vouched for at its start.
 */
export async function startRefusal(m: Migration): Promise<string | undefined> {
  m.auth = await SignedActions.read();
  if (!m.auth.enforced || m.resumed || m.input.batch) return undefined;
  const checked = await m.auth.check(m.input.proof, { action: 'submit', migrationId: m.input.migrationId, payload: submitProofPayload(m.input) }, m.usedProofs);
  if (!checked.ok) return `submit refused: ${checked.reason}; nothing was done`;
  m.markProofUsed(checked.proof.actionId);
  m.submitProof = checked.proof;
  // Carried into later runs with the input: they act for the user the gateway verified.
  m.input.submittedBy = checked.proof.claims.user;
  return undefined;
}

/**
 * The proof an admin action carries, checked against the payload it arrived with (the gateway
 * signs the payload as sent, not as parsed). A proof that verifies is spent at once, whatever
 * becomes of its action: sent again, it is a replay. Answered at once (not as a promise) unless the
 * gateway's keys must be read again: see checkRole.
 */
export function checkActionProof(m: Migration, message: InboxMessage): ProofCheck | Promise<ProofCheck> {
  const payload = message.payload as Record<string, unknown>;
  const spend = (checked: ProofCheck) => {
    if (checked.ok) m.markProofUsed(checked.proof.actionId);
    return checked;
  };
  const checked = m.auth.check(payload.proof, { action: message.action, migrationId: provenMigrationId(m, payload.proof), payload }, m.usedProofs);
  return checked instanceof Promise ? checked.then(spend) : spend(checked);
}

/**
 * A proof names the migration by either of its ids: the source admin knows it by the source
 * migration id, the target admin by the target migration id (`t2t sign --migration-id` takes
 * whichever the admin has). Any other id is refused as another migration's.
 */
function provenMigrationId(m: Migration, proof: unknown): string {
  const named = (proof as { migrationId?: unknown } | null)?.migrationId;
  return named === m.input.targetMigrationId ? m.input.targetMigrationId : m.input.migrationId;
}
