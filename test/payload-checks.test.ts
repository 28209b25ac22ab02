// The inbox's own payload checks (the fast path that keeps zod out of a workflow's
// sandbox) never accept what the schema refuses, and return what the schema returns.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AdminAction, SCHEMAS, checkedPayload, parseAction } from '../src/workflows/inbox';

const ACTIONS = Object.keys(SCHEMAS) as AdminAction[];
const value = fc.oneof(
  fc.string({ maxLength: 5 }),
  fc.string({ minLength: 60, maxLength: 110 }),
  fc.constantFrom('  ab  ', ' alice@contoso.com ', 'x'.repeat(320), ` ${'y'.repeat(320)} `, 'z'.repeat(321), '2026-12-05T22:00:00Z', ''),
  fc.boolean(),
  fc.integer(),
  fc.constant(null),
  fc.constant(undefined),
  fc.array(fc.string(), { maxLength: 2 }),
);
const payload = fc.oneof(
  fc.record(
    {
      actor: value,
      requestId: value,
      reason: value,
      targetTenantId: value,
      mappingContainer: value,
      at: value,
      unschedule: value,
      guestAdmin: fc.oneof(value, fc.constantFrom('guest@fabrikam.com', ' guest@fabrikam.com ', 'guest.fabrikam.com', `${'g'.repeat(250)}@f.com`)),
      other: value,
    },
    { requiredKeys: [] },
  ),
  value,
);

describe('inbox payload checks', () => {
  it('accept only what the schema accepts, with the same result', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ACTIONS), payload, (action, p) => {
        const checked = checkedPayload(action, p);
        const parsed = SCHEMAS[action].safeParse(p);
        if (checked === undefined) {
          // Refused or unusual: the schema decides, as before.
          assert.deepEqual(parseAction(action, p).ok, parsed.success);
          return;
        }
        assert.ok(parsed.success, `${action} ${JSON.stringify(p)}: checked but the schema refuses it`);
        assert.equal(JSON.stringify(checked), JSON.stringify(parsed.data));
        assert.deepStrictEqual(checked, parsed.data);
      }),
      { numRuns: 20_000 },
    );
  });

  it('take the usual payloads without the schema', () => {
    assert.deepEqual(checkedPayload('approve', { actor: ' admin@target.example ', requestId: 'r1' }), { actor: 'admin@target.example', requestId: 'r1' });
    assert.deepEqual(checkedPayload('deny', { actor: 'admin@target.example' }), { actor: 'admin@target.example', reason: '' });
    assert.deepEqual(checkedPayload('migrate', { actor: 'a@b.c', targetTenantId: 't', at: '2026-12-05T22:00:00Z', extra: 1 }), { actor: 'a@b.c', targetTenantId: 't', at: '2026-12-05T22:00:00Z' });
    assert.equal(checkedPayload('prepare', { actor: 'a@b.c', targetTenantId: 't' }), undefined);
    assert.deepEqual(checkedPayload('prepare', { actor: 'a@b.c', targetTenantId: 't', mappingContainer: 'https://x/c', guestAdmin: ' guest@fabrikam.com ' }), {
      actor: 'a@b.c',
      targetTenantId: 't',
      mappingContainer: 'https://x/c',
      guestAdmin: 'guest@fabrikam.com',
    });
    assert.equal(checkedPayload('migrate', { actor: 'a@b.c', targetTenantId: 't', guestAdmin: 'guest.fabrikam.com' }), undefined);
    assert.equal(parseAction('migrate', { actor: 'a@b.c', targetTenantId: 't', guestAdmin: 'guest.fabrikam.com' }).ok, false);
  });
});
