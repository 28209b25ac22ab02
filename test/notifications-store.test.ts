// The notification tables on both control-plane databases: subscriptions, the
// outbox and the deliveries, each write keyed so that repeating it changes nothing.
import assert from 'node:assert/strict';
import { createControlPlane, openDatabase } from '../src/controlplane/database';
import { NotificationStore } from '../src/notifications/store';
import type { NotificationEvent } from '../src/notifications/events';
import { CONTROL_PLANE_BACKENDS, startBackend } from './helpers/backends';

function event(id: string, kind: NotificationEvent['kind'] = 'phase-changed'): NotificationEvent {
  return {
    id,
    kind,
    time: new Date().toISOString(),
    tenants: ['t-contoso', 't-fabrikam'],
    migration: { migrationId: 'm-1', targetMigrationId: 'tm-1', environmentId: 'env-sales', sourceTenantId: 't-contoso', targetTenantId: 't-fabrikam' },
    data: { phase: 'PendingApproval' },
  };
}

for (const backend of CONTROL_PLANE_BACKENDS) {
  describe(`notification store on ${backend.name} @integration`, function () {
    this.timeout(120_000);
    let store: NotificationStore;
    let close: () => Promise<void>;

    before(async () => {
      await startBackend(backend);
      const url = await backend.url();
      const controlPlane = await createControlPlane(url);
      // The tables come with the control plane's schema; twice changes nothing.
      await controlPlane.migrateSchema();
      await controlPlane.migrateSchema();
      await controlPlane.close();
      const { db, release } = await openDatabase(url);
      store = new NotificationStore(db);
      close = release;
    });
    after(async () => close?.());

    it('subscriptions: one per tenant, kind and target; the secret stays out of lists', async () => {
      const first = await store.addSubscription({ tenantId: 't-fabrikam', kind: 'reminder', channel: 'webhook', target: 'https://hooks.fabrikam.com/a', secret: 'secret-one-0123456789' });
      const again = await store.addSubscription({ tenantId: 't-fabrikam', kind: 'reminder', channel: 'webhook', target: 'https://hooks.fabrikam.com/a', secret: 'secret-two-0123456789' });
      assert.equal(first.created, true);
      assert.equal(again.created, false);
      assert.equal(again.subscription.id, first.subscription.id);
      assert.equal((await store.getSubscription(first.subscription.id))?.secret, 'secret-one-0123456789', 'the first secret is kept');
      assert.ok(!JSON.stringify(await store.listSubscriptions()).includes('secret-'));
    });

    it('the outbox takes an event once; the same target subscribed by both tenants gets one delivery; a delivery settles once', async () => {
      const hook = 'https://hooks.example.org/t2t';
      const a = (await store.addSubscription({ tenantId: 't-contoso', kind: 'phase-changed', channel: 'webhook', target: hook, secret: 'x'.repeat(20) })).subscription;
      // Created a moment later: the oldest is the first (creation times are kept to the millisecond).
      await new Promise((resolve) => setTimeout(resolve, 5));
      await store.addSubscription({ tenantId: 't-fabrikam', kind: 'phase-changed', channel: 'webhook', target: hook, secret: 'y'.repeat(20) });
      await store.addSubscription({ tenantId: 't-fabrikam', kind: 'phase-changed', channel: 'email', target: 'Ops@Fabrikam.example' });
      await store.addSubscription({ tenantId: 't-contoso', kind: 'phase-changed', channel: 'email', target: 'ops@fabrikam.example' });

      assert.deepEqual([...(await store.recordEvents([event('e-1'), event('e-2')]))].sort(), ['e-1', 'e-2']);
      assert.deepEqual([...(await store.recordEvents([event('e-1'), event('e-3')]))], ['e-3'], 'a repeat writes nothing');
      const subscribers = await store.subscribers(['t-contoso', 't-fabrikam'], 'phase-changed');
      assert.equal(subscribers.length, 2, 'one webhook and one mailbox, whoever subscribed them');
      assert.equal(subscribers.find((s) => s.channel === 'webhook')?.id, a.id, 'the oldest subscription of a target delivers');
      const targets = subscribers.map((s) => ({ subscriptionId: s.id, channel: s.channel, target: s.target }));
      assert.equal((await store.addDeliveries('e-1', targets)).length, 2);
      assert.equal((await store.addDeliveries('e-1', targets)).length, 2, 'the same two, still pending');
      await store.attempting('e-1', a.id);
      assert.equal(await store.settle('e-1', a.id, 'delivered'), true);
      assert.equal(await store.settle('e-1', a.id, 'failed', 'late'), false, 'settled once');
      assert.equal((await store.getDelivery('e-1', a.id))?.status, 'delivered');
      assert.equal((await store.getDelivery('e-1', a.id))?.attempts, 1);
      assert.equal((await store.addDeliveries('e-1', targets)).length, 1, 'only the one not made yet is pending');
      assert.equal(JSON.parse((await store.eventBody('e-1'))!).specversion, '1.0');
      assert.deepEqual((await store.listEvents('m-1')).map((e) => e.eventId).sort(), ['e-1', 'e-2', 'e-3']);
      assert.equal((await store.listDeliveries({ migrationId: 'm-1' })).length, 2);
      assert.deepEqual((await store.deliveryCounts([a.id])).get(a.id), { delivered: 1, failed: 0, pending: 0 });
    });

    it('removing a subscription cancels its deliveries not made yet', async () => {
      const s = (await store.addSubscription({ tenantId: 't-contoso', kind: 'reminder', channel: 'email', target: 'later@contoso.example' })).subscription;
      await store.recordEvents([event('e-9', 'reminder')]);
      await store.addDeliveries('e-9', [{ subscriptionId: s.id, channel: 'email', target: s.target }]);
      assert.equal(await store.removeSubscription(s.id), true);
      assert.equal(await store.removeSubscription(s.id), false);
      assert.equal((await store.getDelivery('e-9', s.id))?.status, 'cancelled');
    });
  });
}
