// Signed actions inside a workflow: the sign-in policy comes from the worker's configuration
// (a local activity: one marker in history, so a replay checks against the same keys), never
// from the workflow's input; proofs are checked against the gateway's published keys, read
// again once when a proof names a key not known yet (the gateway rotated its key, no restart).
import { proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import type { MigrationActivities } from '../activities';
import type { AuthPolicy } from '../activities/auth-policy';
import { checkActionProof, type ProofCheck } from '../identity/action-proof';

const { spendSignedStart } = proxyLocalActivities<MigrationActivities>({
  startToCloseTimeout: '15s',
  // The control plane down: tried again until it answers, as the audit trail's writes are.
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
  summary: 'Spend the signed start for this run',
});

/**
 * A signed start counts for one run: the first run that starts with it (its first execution run id,
 * the same across retries), never a second start of the same signed input. Why not, or undefined.
 */
export async function spentElsewhere(actionId: string): Promise<string | undefined> {
  const spentBy = await spendSignedStart({ actionId, run: workflowInfo().firstExecutionRunId });
  return spentBy === undefined ? undefined : `this signed start was used already (by run ${spentBy}): sign a new one`;
}

const { authPolicy } = proxyLocalActivities<MigrationActivities>({
  startToCloseTimeout: '15s',
  // The activity answers even when the keys cannot be read; a retry is for a worker's own trouble only.
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
  summary: "Read the sign-in policy and the gateway's published keys",
});

/** Unknown key ids already looked up: a proof naming one again costs no second look-up. */
const UNKNOWN_KIDS = 50;

export interface ExpectedProof {
  action: string;
  migrationId: string;
  payload: Record<string, unknown>;
}

export class SignedActions {
  private readonly unknownKids: string[] = [];

  private constructor(private policy: AuthPolicy) {}

  static async read(): Promise<SignedActions> {
    return new SignedActions(await authPolicy({}));
  }

  /** T2T_AUTH=on on the worker: only actions (and starts) with the gateway's valid proof count. */
  get enforced(): boolean {
    return this.policy.enforced;
  }

  /** The proof checked for this action; a key not known yet is looked up once (a rotation at the gateway). */
  check(proof: unknown, expected: ExpectedProof, used: ReadonlySet<string>): ProofCheck | Promise<ProofCheck> {
    const kid = typeof (proof as { kid?: unknown } | null)?.kid === 'string' ? (proof as { kid: string }).kid : undefined;
    // Answered at once unless the keys must be read again (a key id not seen yet): most proofs, and every
    // unsigned action, are then checked without a promise (see checkRole in migration/actions.ts).
    if (kid !== undefined && !this.knows(kid) && !this.unknownKids.includes(kid)) return this.readKeysAndCheck(kid, proof, expected, used);
    return this.checkWithKnownKeys(kid, proof, expected, used);
  }

  private async readKeysAndCheck(kid: string, proof: unknown, expected: ExpectedProof, used: ReadonlySet<string>): Promise<ProofCheck> {
    this.policy = await authPolicy({ refresh: true });
    // Remembered only when the gateway answered without it: after an outage the next proof looks again.
    if (!this.knows(kid) && !this.policy.keysUnavailable) {
      this.unknownKids.push(kid);
      if (this.unknownKids.length > UNKNOWN_KIDS) this.unknownKids.shift();
    }
    return this.checkWithKnownKeys(kid, proof, expected, used);
  }

  private checkWithKnownKeys(kid: string | undefined, proof: unknown, expected: ExpectedProof, used: ReadonlySet<string>): ProofCheck {
    const checked = checkActionProof(proof, expected, this.policy.keys, used);
    if (!checked.ok && kid !== undefined && !this.knows(kid) && this.policy.keysUnavailable) {
      return { ok: false, reason: `${checked.reason} (${this.policy.keysUnavailable})` };
    }
    return checked;
  }

  private knows(kid: string): boolean {
    return this.policy.keys.some((k) => k.kid === kid);
  }
}
