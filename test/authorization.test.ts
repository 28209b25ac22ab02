import assert from 'node:assert/strict';
import { authorizeAction } from '../src/migration/authorization';
import { phaseAccepts, phaseRefusal } from '../src/workflows/phase-rules';

describe('who may do what', () => {
  const admin = { enabled: true, roles: ['PowerPlatformAdmin'] };
  it('lets an admin of the right tenant act', () => {
    assert.deepEqual(authorizeAction('approve', 't-fabrikam', admin), { allowed: true });
    assert.deepEqual(authorizeAction('migrate', 't-contoso', { enabled: true, roles: ['Dynamics365Admin'] }), { allowed: true });
    assert.deepEqual(authorizeAction('approveLockbox', 't-contoso', { enabled: true, roles: ['LockboxApprover'] }), { allowed: true });
  });
  it('refuses strangers, disabled accounts and the wrong role, saying who may', () => {
    const stranger = authorizeAction('approve', 't-fabrikam', undefined);
    assert.equal(stranger.allowed, false);
    assert.match(stranger.reason!, /^approve refused: the caller is not a user of the target tenant; only a Power Platform or Dynamics 365 admin of the target tenant \(t-fabrikam\)/);
    assert.match(authorizeAction('prepare', 't-contoso', { enabled: false, roles: ['GlobalAdmin'] }).reason!, /disabled/);
    assert.match(authorizeAction('approveLockbox', 't-contoso', admin).reason!, /none of the roles LockboxApprover, GlobalAdmin/);
  });
  it('knows which phase takes which action', () => {
    assert.ok(phaseAccepts('PendingApproval', 'approve'));
    assert.ok(!phaseAccepts('Approved', 'migrate'));
    assert.ok(phaseAccepts('Prepared', 'migrate'));
    assert.ok(!phaseAccepts('Migrating', 'cancel'));
    assert.equal(phaseRefusal('migrate', 'PreparationExpired', '2026-01-08T00:00:00.000Z'), 'migrate refused: the preparation expired at 2026-01-08T00:00:00.000Z; run prepare again');
    assert.equal(phaseRefusal('migrate', 'Approved'), 'migrate refused: the migration is Approved; run prepare successfully first');
  });
});
