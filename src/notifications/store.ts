// Subscriptions, the outbox of events and what was delivered, in the
// control-plane database (tables in src/controlplane/schema.ts). Every write is
// keyed so that repeating it changes nothing: an event by its id, a delivery by
// event and subscription.
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { openDatabase, type Database, type NotificationDeliveriesTable, type NotificationSubscriptionsTable } from '../controlplane/database';
import { toCloudEvent, type NotificationEvent, type NotificationKind } from './events';

export type Channel = 'webhook' | 'email';

export interface Subscription {
  id: string;
  tenantId: string;
  kind: NotificationKind;
  channel: Channel;
  /** the webhook URL or the email address */
  target: string;
  createdAt: string;
}

/** A subscription with its secret: only for the delivery activity, never printed. */
export interface SubscriptionWithSecret extends Subscription {
  secret: string | null;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'cancelled';

export interface Delivery {
  eventId: string;
  subscriptionId: string;
  channel: Channel;
  target: string;
  status: DeliveryStatus;
  attempts: number;
  lastError: string | null;
  updatedAt: string;
}

export interface DeliveryCounts {
  delivered: number;
  failed: number;
  pending: number;
  lastError?: string;
}

/** The id of the delivery to a tenant's escalation contact (not a subscription). */
export const contactDeliveryId = (tenantId: string): string => `contact:${tenantId}`;
export const isContactDelivery = (subscriptionId: string): boolean => subscriptionId.startsWith('contact:');

const INSERT_CHUNK = 100;

function toSubscription(row: NotificationSubscriptionsTable): SubscriptionWithSecret {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    kind: row.kind as NotificationKind,
    channel: row.channel as Channel,
    target: row.target,
    createdAt: row.created_at,
    secret: row.secret,
  };
}

function toDelivery(row: NotificationDeliveriesTable): Delivery {
  return {
    eventId: row.event_id,
    subscriptionId: row.subscription_id,
    channel: row.channel as Channel,
    target: row.target,
    status: row.status as DeliveryStatus,
    attempts: Number(row.attempts),
    lastError: row.last_error,
    updatedAt: row.updated_at,
  };
}

export class NotificationStore {
  constructor(private readonly db: Kysely<Database>) {}

  // ---- subscriptions ---------------------------------------------------------

  /** Adds a subscription; the same tenant, kind and target again returns the existing one (created: false). */
  async addSubscription(s: { tenantId: string; kind: NotificationKind; channel: Channel; target: string; secret?: string }): Promise<{ subscription: Subscription; created: boolean }> {
    const row: NotificationSubscriptionsTable = {
      id: `sub-${randomBytes(5).toString('hex')}`,
      tenant_id: s.tenantId,
      kind: s.kind,
      channel: s.channel,
      target: s.target,
      secret: s.secret ?? null,
      created_at: new Date().toISOString(),
    };
    const inserted = await this.db.insertInto('notification_subscriptions').values(row)
      .onConflict((c) => c.columns(['tenant_id', 'kind', 'channel', 'target']).doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1) return { subscription: publicOf(toSubscription(row)), created: true };
    const existing = await this.db.selectFrom('notification_subscriptions').selectAll()
      .where('tenant_id', '=', s.tenantId).where('kind', '=', s.kind).where('channel', '=', s.channel).where('target', '=', s.target)
      .executeTakeFirstOrThrow();
    return { subscription: publicOf(toSubscription(existing)), created: false };
  }

  async listSubscriptions(filter: { tenantId?: string } = {}): Promise<Subscription[]> {
    let query = this.db.selectFrom('notification_subscriptions').selectAll().orderBy('tenant_id').orderBy('kind').orderBy('created_at').orderBy('id');
    if (filter.tenantId !== undefined) query = query.where('tenant_id', '=', filter.tenantId);
    return (await query.execute()).map((row) => publicOf(toSubscription(row)));
  }

  async getSubscription(id: string): Promise<SubscriptionWithSecret | undefined> {
    const row = await this.db.selectFrom('notification_subscriptions').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toSubscription(row);
  }

  /** Removes a subscription; its deliveries not made yet are cancelled. False when there is none with this id. */
  async removeSubscription(id: string): Promise<boolean> {
    const removed = await this.db.deleteFrom('notification_subscriptions').where('id', '=', id).executeTakeFirst();
    if (Number(removed.numDeletedRows) === 0) return false;
    await this.db.updateTable('notification_deliveries')
      .set({ status: 'cancelled', updated_at: new Date().toISOString() })
      .where('subscription_id', '=', id).where('status', '=', 'pending')
      .execute();
    return true;
  }

  /** How each subscription's deliveries went. */
  async deliveryCounts(subscriptionIds: string[]): Promise<Map<string, DeliveryCounts>> {
    const counts = new Map<string, DeliveryCounts>();
    if (subscriptionIds.length === 0) return counts;
    const rows = await this.db.selectFrom('notification_deliveries')
      .select(['subscription_id', 'status', 'last_error', 'updated_at'])
      .where('subscription_id', 'in', subscriptionIds)
      .orderBy('updated_at')
      .execute();
    for (const row of rows) {
      const c = counts.get(row.subscription_id) ?? { delivered: 0, failed: 0, pending: 0 };
      if (row.status === 'delivered' || row.status === 'failed' || row.status === 'pending') c[row.status] += 1;
      if (row.status === 'failed' && row.last_error) c.lastError = row.last_error;
      counts.set(row.subscription_id, c);
    }
    return counts;
  }

  // ---- the outbox --------------------------------------------------------------

  /** Writes events not written before; returns the ids this call wrote (a repeat writes none). */
  async recordEvents(events: NotificationEvent[]): Promise<Set<string>> {
    const fresh = new Set<string>();
    if (events.length === 0) return fresh;
    const ids = [...new Set(events.map((e) => e.id))];
    const known = new Set<string>();
    for (let i = 0; i < ids.length; i += INSERT_CHUNK) {
      const rows = await this.db.selectFrom('notification_events').select('event_id').where('event_id', 'in', ids.slice(i, i + INSERT_CHUNK)).execute();
      for (const row of rows) known.add(row.event_id);
    }
    for (const event of events) {
      if (known.has(event.id) || fresh.has(event.id)) continue;
      const inserted = await this.db.insertInto('notification_events')
        .values({ event_id: event.id, kind: event.kind, migration_id: event.migration.migrationId, created_at: event.time, body: JSON.stringify(toCloudEvent(event)) })
        .onConflict((c) => c.column('event_id').doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1) fresh.add(event.id);
    }
    return fresh;
  }

  /** The CloudEvent an event is delivered as, as written. */
  async eventBody(eventId: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('notification_events').select('body').where('event_id', '=', eventId).executeTakeFirst();
    return row?.body;
  }

  /** The subscriptions of these tenants to this kind, one per distinct target (the oldest). */
  async subscribers(tenantIds: string[], kind: NotificationKind): Promise<SubscriptionWithSecret[]> {
    if (tenantIds.length === 0) return [];
    const rows = await this.db.selectFrom('notification_subscriptions').selectAll()
      .where('tenant_id', 'in', tenantIds).where('kind', '=', kind)
      .orderBy('created_at').orderBy('id')
      .execute();
    const byTarget = new Map<string, SubscriptionWithSecret>();
    for (const row of rows) {
      const key = `${row.channel}\u0000${row.channel === 'email' ? row.target.toLowerCase() : row.target}`;
      if (!byTarget.has(key)) byTarget.set(key, toSubscription(row));
    }
    return [...byTarget.values()];
  }

  /** Adds the deliveries of an event (a repeat adds none) and returns those not settled yet. */
  async addDeliveries(eventId: string, targets: { subscriptionId: string; channel: Channel; target: string }[]): Promise<Delivery[]> {
    if (targets.length === 0) return [];
    const now = new Date().toISOString();
    await this.db.insertInto('notification_deliveries')
      .values(targets.map((t) => ({ event_id: eventId, subscription_id: t.subscriptionId, channel: t.channel, target: t.target, status: 'pending', attempts: 0, last_error: null, updated_at: now })))
      .onConflict((c) => c.columns(['event_id', 'subscription_id']).doNothing())
      .execute();
    const rows = await this.db.selectFrom('notification_deliveries').selectAll()
      .where('event_id', '=', eventId).where('status', '=', 'pending')
      .orderBy('subscription_id')
      .execute();
    return rows.map(toDelivery);
  }

  async getDelivery(eventId: string, subscriptionId: string): Promise<Delivery | undefined> {
    const row = await this.db.selectFrom('notification_deliveries').selectAll()
      .where('event_id', '=', eventId).where('subscription_id', '=', subscriptionId)
      .executeTakeFirst();
    return row && toDelivery(row);
  }

  async listDeliveries(filter: { eventId?: string; migrationId?: string } = {}): Promise<Delivery[]> {
    let query = this.db.selectFrom('notification_deliveries').selectAll('notification_deliveries').orderBy('notification_deliveries.updated_at');
    if (filter.eventId !== undefined) query = query.where('notification_deliveries.event_id', '=', filter.eventId);
    if (filter.migrationId !== undefined) {
      query = query
        .innerJoin('notification_events', 'notification_events.event_id', 'notification_deliveries.event_id')
        .where('notification_events.migration_id', '=', filter.migrationId);
    }
    return (await query.execute()).map(toDelivery);
  }

  async listEvents(migrationId: string): Promise<{ eventId: string; kind: string; createdAt: string; body: string }[]> {
    const rows = await this.db.selectFrom('notification_events').selectAll().where('migration_id', '=', migrationId).orderBy('created_at').orderBy('event_id').execute();
    return rows.map((r) => ({ eventId: r.event_id, kind: r.kind, createdAt: r.created_at, body: r.body }));
  }

  /** Counts an attempt about to be made. */
  async attempting(eventId: string, subscriptionId: string): Promise<void> {
    await this.db.updateTable('notification_deliveries')
      .set((eb) => ({ attempts: eb('attempts', '+', 1), updated_at: new Date().toISOString() }))
      .where('event_id', '=', eventId).where('subscription_id', '=', subscriptionId)
      .execute();
  }

  /**
   * Settles a pending delivery. Only a pending one changes: a delivery is delivered, failed or
   * cancelled once. Returns whether this call settled it.
   */
  async settle(eventId: string, subscriptionId: string, status: Exclude<DeliveryStatus, 'pending'>, error?: string): Promise<boolean> {
    const updated = await this.db.updateTable('notification_deliveries')
      .set({ status, last_error: error === undefined ? null : error.slice(0, 500), updated_at: new Date().toISOString() })
      .where('event_id', '=', eventId).where('subscription_id', '=', subscriptionId).where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(updated.numUpdatedRows) === 1;
  }

  /** Notes an attempt's error on a delivery still pending (the next attempt may succeed). */
  async noteError(eventId: string, subscriptionId: string, error: string): Promise<void> {
    await this.db.updateTable('notification_deliveries')
      .set({ last_error: error.slice(0, 500), updated_at: new Date().toISOString() })
      .where('event_id', '=', eventId).where('subscription_id', '=', subscriptionId).where('status', '=', 'pending')
      .execute();
  }
}

function publicOf(s: SubscriptionWithSecret): Subscription {
  const { secret: _secret, ...rest } = s;
  return rest;
}

/**
 * The store on a database URL, opened when used and closed after a minute unused: the
 * worker's activities use it without holding a connection (or a SQLite file) for good.
 */
export class NotificationDatabase {
  private opened?: Promise<{ store: NotificationStore; release: () => Promise<void> }>;
  private users = 0;
  private idle?: NodeJS.Timeout;

  constructor(
    private readonly databaseUrl: string,
    private readonly idleMs = 60_000,
  ) {}

  async use<T>(work: (store: NotificationStore) => Promise<T>): Promise<T> {
    if (this.idle) clearTimeout(this.idle);
    this.idle = undefined;
    this.users += 1;
    try {
      this.opened ??= openDatabase(this.databaseUrl).then(({ db, release }) => ({ store: new NotificationStore(db), release }));
      let opened;
      try {
        opened = await this.opened;
      } catch (err) {
        this.opened = undefined;
        throw err;
      }
      return await work(opened.store);
    } finally {
      this.users -= 1;
      if (this.users === 0) {
        this.idle = setTimeout(() => void this.close(), this.idleMs);
        this.idle.unref();
      }
    }
  }

  async close(): Promise<void> {
    if (this.idle) clearTimeout(this.idle);
    this.idle = undefined;
    const opened = this.opened;
    this.opened = undefined;
    if (opened) await (await opened.catch(() => undefined))?.release();
  }
}

const shared = new Map<string, NotificationDatabase>();

/** One NotificationDatabase per database URL in a process. */
export function notificationDatabase(databaseUrl: string): NotificationDatabase {
  let db = shared.get(databaseUrl);
  if (!db) {
    db = new NotificationDatabase(databaseUrl);
    shared.set(databaseUrl, db);
  }
  return db;
}
