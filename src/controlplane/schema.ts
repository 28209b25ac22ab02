// The control-plane tables, created if missing. Idempotent: every worker and
// every CLI invocation runs it at start.
import { sql, type Kysely } from 'kysely';
import type { Database, Dialect } from './database';

export async function createSchema(db: Kysely<Database>, dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('tenants').ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('cloud', 'text', (c) => c.notNull())
    .addColumn('geo', 'text')
    .addColumn('default_domain', 'text', (c) => c.notNull())
    .addColumn('domains', 'text', (c) => c.notNull())
    .addColumn('lockbox_enabled', 'integer', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('tenant_users').ifNotExists()
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('upn', 'text', (c) => c.notNull())
    .addColumn('upn_key', 'text', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('licenses', 'text', (c) => c.notNull())
    .addColumn('mailbox', 'integer', (c) => c.notNull())
    .addColumn('roles', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('tenant_users_pk', ['tenant_id', 'upn_key'])
    .execute();
  await db.schema
    .createTable('environments').ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('admin_mode', 'integer', (c) => c.notNull())
    .addColumn('geo', 'text')
    .addColumn('managed', 'integer', (c) => c.notNull())
    .addColumn('linked_to_finance_operations', 'integer', (c) => c.notNull())
    .addColumn('source_access', 'integer', (c) => c.notNull())
    .addColumn('previous_tenant_id', 'text')
    .addColumn('components', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('environments_by_tenant').ifNotExists()
    .on('environments').column('tenant_id')
    .execute();
  await db.schema
    .createTable('environment_users').ifNotExists()
    .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
    .addColumn('upn', 'text', (c) => c.notNull())
    .addColumn('upn_key', 'text', (c) => c.notNull())
    .addColumn('roles', 'text', (c) => c.notNull())
    .addColumn('previous_upn', 'text')
    .addPrimaryKeyConstraint('environment_users_pk', ['environment_id', 'upn_key'])
    .execute();
  await db.schema
    .createTable('user_remaps').ifNotExists()
    // seq keeps the order in which users were re-mapped, for listRemaps.
    .addColumn('seq', dialect === 'postgres' ? 'serial' : 'integer', (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('migration_id', 'text', (c) => c.notNull())
    .addColumn('environment_id', 'text', (c) => c.notNull())
    .addColumn('source_key', 'text', (c) => c.notNull())
    .addColumn('source_upn', 'text', (c) => c.notNull())
    .addColumn('target_upn', 'text', (c) => c.notNull())
    .addColumn('applied_count', 'integer', (c) => c.notNull())
    .addColumn('applied_at', 'text', (c) => c.notNull())
    .addColumn('undo_state', 'text')
    // The exactly-once guarantee of re-mapping rests on this key.
    .addUniqueConstraint('user_remaps_once', ['migration_id', 'source_key'])
    .execute();
  await addColumnIfMissing(db, dialect, 'user_remaps', 'undo_state', 'text');
  await db.schema
    .createTable('migration_requests').ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('environment_id', 'text', (c) => c.notNull())
    .addColumn('source_tenant_id', 'text', (c) => c.notNull())
    .addColumn('target_tenant_id', 'text', (c) => c.notNull())
    .addColumn('created_on', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('approval_status', 'text', (c) => c.notNull())
    .addColumn('acted_by', 'text')
    .execute();
  await addColumnIfMissing(db, dialect, 'tenants', 'escalation_contact', 'text');
  // Rehearsals (docs/runbook.md): a copy of an environment names the environment it copies.
  await addColumnIfMissing(db, dialect, 'environments', 'copy_of', 'text');
  // Notifications (docs/operations.md): subscriptions, the outbox of events, and what was delivered.
  await db.schema
    .createTable('notification_subscriptions').ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('target', 'text', (c) => c.notNull())
    .addColumn('secret', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('notification_subscriptions_once', ['tenant_id', 'kind', 'channel', 'target'])
    .execute();
  await db.schema
    .createTable('notification_events').ifNotExists()
    .addColumn('event_id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('migration_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('notification_events_by_migration').ifNotExists()
    .on('notification_events').column('migration_id')
    .execute();
  await db.schema
    .createTable('notification_deliveries').ifNotExists()
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('subscription_id', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('target', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('last_error', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    // Delivered once per subscription: the idempotency of delivery rests on this key.
    .addPrimaryKeyConstraint('notification_deliveries_pk', ['event_id', 'subscription_id'])
    .execute();
  await db.schema
    .createIndex('notification_deliveries_by_subscription').ifNotExists()
    .on('notification_deliveries').column('subscription_id')
    .execute();
  // On-behalf-of (docs/identity.md): an admin's exchanged token, sealed, for the one call its action makes.
  // Outside workflow history; taken once (deleted as it is read), gone at its expiry.
  await db.schema
    .createTable('delegated_tokens').ifNotExists()
    .addColumn('action_id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('sealed', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute();
}

/**
 * Databases created before a column existed get it here: CREATE TABLE IF NOT
 * EXISTS leaves an existing table as it is. Looked up first, because ALTER TABLE
 * takes PostgreSQL's strongest lock even when the column is there, and every
 * worker and CLI invocation comes through here.
 */
async function addColumnIfMissing(db: Kysely<Database>, dialect: Dialect, table: string, column: string, type: 'text'): Promise<void> {
  const found = dialect === 'postgres'
    ? await sql<{ name: string }>`SELECT column_name AS name FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = ${table} AND column_name = ${column}`.execute(db)
    : await sql<{ name: string }>`SELECT name FROM pragma_table_info(${table}) WHERE name = ${column}`.execute(db);
  if (found.rows.length > 0) return;
  await sql`ALTER TABLE ${sql.table(table)} ADD COLUMN ${sql.ref(column)} ${sql.raw(type)}`.execute(db);
}
