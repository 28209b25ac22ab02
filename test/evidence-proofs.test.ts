// The trail's proofs as `t2t evidence verify` checks them, entry by entry: a good
// signature is not enough when the entry names someone other than who the gateway
// verified, or another action than the one it signed.
import assert from 'node:assert/strict';
import type { AuditEntry } from '../src/contracts';
import { ActionSigner, newGatewayKey } from '../src/identity/action-signer';
import { checkTrailProofs } from '../src/evidence/proofs';
import { UserError } from '../src/client/user-error';

describe('evidence: the proofs on the trail', () => {
  const signer = new ActionSigner([newGatewayKey('gw-trail-1')]);
  const keys = { keys: signer.published(), source: 'test keys' };
  const at = '2026-12-07T10:00:00.000Z';
  const entry = (action: 'approve' | 'cancel', actor: string, signedFor = actor): AuditEntry => {
    const payload = { actor: signedFor, requestId: 'r-1' };
    const claims = { issuer: 'https://login.example', tenantId: 't-fabrikam', objectId: `oid-${signedFor}`, user: signedFor, tokenIdHash: 'h' };
    const proof = signer.sign({ action, migrationId: 'tm-1', payload, claims, now: new Date(at) });
    return { at, action, actor, outcome: 'accepted', requestId: 'r-1', proof };
  };
  const refusal = (entries: AuditEntry[]) => {
    try {
      checkTrailProofs(entries, keys);
    } catch (err) {
      assert.ok(err instanceof UserError);
      return err.message;
    }
    return undefined;
  };

  it('counts signed and unsigned entries of a good trail', () => {
    const unsigned: AuditEntry = { at, action: 'submit', actor: 'admin@contoso.com', outcome: 'accepted' };
    assert.deepEqual(checkTrailProofs([unsigned, entry('approve', 'admin@fabrikam.com')], keys), { signed: 1, unsigned: 1, refusedUnverified: 0 });
  });

  it('names an accepted entry whose actor is not the user the gateway verified', () => {
    assert.equal(
      refusal([entry('approve', 'admin@fabrikam.com'), entry('approve', 'mallory@fabrikam.com', 'admin@fabrikam.com')]),
      `not verified: entry 2 (approve by mallory@fabrikam.com at ${at}): its proof was signed for admin@fabrikam.com`,
    );
  });

  it('names an accepted entry carrying the proof of another action', () => {
    const approve = entry('approve', 'admin@fabrikam.com');
    assert.equal(refusal([{ ...approve, action: 'cancel' }]), `not verified: entry 1 (cancel by admin@fabrikam.com at ${at}): its proof is for approve`);
  });
});
