// Opens the control-plane database: a SQLite file (the embedded default) or
// PostgreSQL (shared by several workers), behind one Kysely query builder.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect, Generated } from 'kysely';
import type { ControlPlane } from './control-plane';
import { SqlControlPlane } from './sql-control-plane';
import { withStatementCache } from './statement-cache';
import { EventLoopTurns } from './event-loop-turns';
import { isPostgresUrl, sqliteFilePath } from './database-url';

// Booleans are integers 0/1 and lists are JSON text on both backends, so that
// one set of queries and row mappers serves SQLite and PostgreSQL alike.

export interface TenantsTable {
  id: string;
  name: string;
  cloud: string;
  geo: string | null;
  default_domain: string;
  domains: string;
  lockbox_enabled: number;
  /** who is told when a deadline of the tenant's passes its last reminder without action; null: the configuration's */
  escalation_contact: string | null;
}

export interface TenantUsersTable {
  tenant_id: string;
  upn: string;
  /** lower-cased upn: UPNs compare case-insensitively */
  upn_key: string;
  enabled: number;
  licenses: string;
  mailbox: number;
  roles: string;
}

export interface EnvironmentsTable {
  id: string;
  name: string;
  type: string;
  url: string;
  org_id: string;
  tenant_id: string;
  admin_mode: number;
  geo: string | null;
  managed: number;
  linked_to_finance_operations: number;
  source_access: number;
  previous_tenant_id: string | null;
  components: string;
  /** set on a rehearsal's copy: the environment it copies */
  copy_of: string | null;
}

export interface EnvironmentUsersTable {
  environment_id: string;
  upn: string;
  upn_key: string;
  roles: string;
  previous_upn: string | null;
}

export interface UserRemapsTable {
  migration_id: string;
  environment_id: string;
  source_key: string;
  source_upn: string;
  target_upn: string;
  applied_count: number;
  applied_at: string;
  /** JSON of what the re-mapping replaced (RemapUndoState), so that it can be undone; null on rows written before it was kept */
  undo_state: string | null;
  seq: Generated<number>;
}

/** The simulated service's register of migration requests (Microsoft's service keeps its own). */
export interface MigrationRequestsTable {
  id: string;
  environment_id: string;
  source_tenant_id: string;
  target_tenant_id: string;
  created_on: string;
  created_by: string;
  /** Pending, Approved, Rejected or Deleted */
  approval_status: string;
  acted_by: string | null;
}

/** A tenant's notification subscription: one event kind to one webhook or mailbox. */
export interface NotificationSubscriptionsTable {
  id: string;
  tenant_id: string;
  /** phase-changed, reminder, escalation, action-refused, stalled */
  kind: string;
  /** webhook or email */
  channel: string;
  /** the webhook URL or the email address */
  target: string;
  /** the webhook's HMAC-SHA256 key; never printed */
  secret: string | null;
  created_at: string;
}

/** The outbox: each event once, by its stable id, with the CloudEvent every delivery sends. */
export interface NotificationEventsTable {
  event_id: string;
  kind: string;
  migration_id: string;
  created_at: string;
  /** the CloudEvent (structured mode JSON), byte for byte what webhooks receive */
  body: string;
}

/** What was delivered: one row per event and subscription (or escalation contact). */
export interface NotificationDeliveriesTable {
  event_id: string;
  /** a subscription id, or contact:<tenant id> for a tenant's escalation contact */
  subscription_id: string;
  channel: string;
  target: string;
  /** pending, delivered, failed (its retry budget ran out or the receiver refused it) or cancelled (the subscription was removed) */
  status: string;
  attempts: number;
  last_error: string | null;
  updated_at: string;
}

/** an admin's exchanged token for one action (on-behalf-of), sealed with the delegation key */
export interface DelegatedTokensTable {
  action_id: string;
  tenant_id: string;
  sealed: string;
  /** ISO time */
  expires_at: string;
}

export interface Database {
  delegated_tokens: DelegatedTokensTable;
  migration_requests: MigrationRequestsTable;
  tenants: TenantsTable;
  tenant_users: TenantUsersTable;
  environments: EnvironmentsTable;
  environment_users: EnvironmentUsersTable;
  user_remaps: UserRemapsTable;
  notification_subscriptions: NotificationSubscriptionsTable;
  notification_events: NotificationEventsTable;
  notification_deliveries: NotificationDeliveriesTable;
}

export type Dialect = 'sqlite' | 'postgres';

export { isPostgresUrl, sqliteFilePath } from './database-url';

export interface OpenDatabase {
  db: Kysely<Database>;
  dialect: Dialect;
  /** gives the database back; the last user of a shared SQLite file closes it */
  release(): Promise<void>;
}

/**
 * One Kysely per SQLite file in a process. better-sqlite3 is synchronous: a
 * second connection in the same process waiting on the first one's lock would
 * block the very thread that must finish the first transaction. Sharing one
 * connection makes them take turns through Kysely's connection mutex instead.
 * Other processes (the worker, the CLI) still have their own connections.
 */
const sqliteFiles = new Map<string, { db: Kysely<Database>; users: number }>();

async function openSqlite(file: string): Promise<OpenDatabase> {
  const shareKey = file === ':memory:' ? undefined : path.resolve(file);
  const shared = shareKey === undefined ? undefined : sqliteFiles.get(shareKey);
  if (shared) {
    shared.users += 1;
    return { db: shared.db, dialect: 'sqlite', release: once(() => releaseSqlite(shareKey!)) };
  }
  if (shareKey !== undefined) mkdirSync(path.dirname(shareKey), { recursive: true });
  const { default: SQLite } = await import('better-sqlite3');
  const sqlite = new SQLite(file);
  // The busy timeout comes first, so that even switching to WAL waits for
  // another process instead of failing; WAL lets readers run beside a writer.
  sqlite.pragma('busy_timeout = 15000');
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('synchronous = NORMAL');
  // PostgreSQL's queries wait on the network and let the event loop turn; SQLite's need this plugin.
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }), plugins: [new EventLoopTurns()] });
  if (shareKey === undefined) return { db, dialect: 'sqlite', release: once(() => db.destroy()) };
  // Another caller may have opened the same file while we awaited the import.
  const raced = sqliteFiles.get(shareKey);
  if (raced) {
    await db.destroy();
    raced.users += 1;
    return { db: raced.db, dialect: 'sqlite', release: once(() => releaseSqlite(shareKey)) };
  }
  sqliteFiles.set(shareKey, { db, users: 1 });
  return { db, dialect: 'sqlite', release: once(() => releaseSqlite(shareKey)) };
}

async function releaseSqlite(shareKey: string): Promise<void> {
  const shared = sqliteFiles.get(shareKey);
  if (!shared) return;
  shared.users -= 1;
  if (shared.users > 0) return;
  sqliteFiles.delete(shareKey);
  await shared.db.destroy();
}

function once(action: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= action());
}

export async function openDatabase(databaseUrl: string): Promise<OpenDatabase> {
  if (!isPostgresUrl(databaseUrl)) return openSqlite(sqliteFilePath(databaseUrl));
  const { Pool } = await import('pg');
  const pool = new Pool({ connectionString: databaseUrl, max: 10, application_name: 't2t' });
  // An idle connection dropped by the server (restart, failover) is reported
  // here; without a listener it would crash the worker. The next query reconnects.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: 'postgres', release: once(() => db.destroy()) };
}

/**
 * `postgres://` or `postgresql://` → PostgreSQL; anything else is a SQLite file
 * path (a `file:` prefix is accepted), whose folders are created. Call
 * migrateSchema() before use.
 */
export async function createControlPlane(databaseUrl: string): Promise<ControlPlane> {
  const { db, dialect, release } = await openDatabase(databaseUrl);
  return new SqlControlPlane(db, dialect, release);
}
