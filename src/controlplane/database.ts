// Opens the control-plane database: a SQLite file (the embedded default) or
// PostgreSQL (shared by several workers), behind one Kysely query builder.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect, Generated } from 'kysely';
import type { ControlPlane } from './control-plane';
import { SqlControlPlane } from './sql-control-plane';

export interface TenantsTable {
  id: string;
  name: string;
  cloud: string;
  geo: string | null;
  default_domain: string;
  domains: string;
  lockbox_enabled: number;
}

export interface TenantUsersTable {
  tenant_id: string;
  upn: string;
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
  seq: Generated<number>;
}

export interface Database {
  tenants: TenantsTable;
  tenant_users: TenantUsersTable;
  environments: EnvironmentsTable;
  environment_users: EnvironmentUsersTable;
  user_remaps: UserRemapsTable;
}

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

export async function openDatabase(databaseUrl: string): Promise<{ db: Kysely<Database>; dialect: 'sqlite' | 'postgres' }> {
  if (isPostgresUrl(databaseUrl)) {
    const { Pool } = await import('pg');
    const pool = new Pool({ connectionString: databaseUrl, max: 10 });
    return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), dialect: 'postgres' };
  }
  const file = databaseUrl.replace(/^file:(\/\/)?/, '');
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const { default: SQLite } = await import('better-sqlite3');
  const sqlite = new SQLite(file);
  // The worker and the CLI share the file: WAL lets readers run beside a writer,
  // and a busy writer makes the other wait instead of failing.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 10000');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('synchronous = NORMAL');
  return { db: new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) }), dialect: 'sqlite' };
}

export async function createControlPlane(databaseUrl: string): Promise<ControlPlane> {
  const { db, dialect } = await openDatabase(databaseUrl);
  return new SqlControlPlane(db, dialect);
}
