// The control plane on SQL (SQLite or PostgreSQL through one Kysely code path).
import { Kysely, sql } from 'kysely';
import type { Database, EnvironmentsTable, TenantsTable, TenantUsersTable, EnvironmentUsersTable } from './database';
import type {
  ControlPlane,
  EnvironmentRecord,
  EnvironmentUserRecord,
  RemapResult,
  TenantRecord,
  TenantUserRecord,
  Cloud,
  EnvironmentType,
} from './control-plane';
import type { World } from './world';

const key = (upn: string) => upn.trim().toLowerCase();
const bool = (v: number | boolean) => (typeof v === 'boolean' ? v : v !== 0);
/** SQLite allows 32,766 variables a statement; stay far below for both dialects. */
const CHUNK = 500;

export class SqlControlPlane implements ControlPlane {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: 'sqlite' | 'postgres',
  ) {}

  /**
   * A transaction that writes. On SQLite it takes the write lock at BEGIN
   * (IMMEDIATE): a transaction that reads first and upgrades later can fail at
   * once with "database is locked" when another process writes, whatever the
   * busy timeout; taking the lock first makes it wait its turn instead.
   */
  private async writeTransaction<T>(work: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    if (this.dialect === 'postgres') return this.db.transaction().execute(work);
    return this.db.connection().execute(async (connection) => {
      await sql`BEGIN IMMEDIATE`.execute(connection);
      try {
        const result = await work(connection);
        await sql`COMMIT`.execute(connection);
        return result;
      } catch (err) {
        await sql`ROLLBACK`.execute(connection);
        throw err;
      }
    });
  }

  async migrateSchema(): Promise<void> {
    await this.db.schema
      .createTable('tenants').ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('cloud', 'text', (c) => c.notNull())
      .addColumn('geo', 'text')
      .addColumn('default_domain', 'text', (c) => c.notNull())
      .addColumn('domains', 'text', (c) => c.notNull())
      .addColumn('lockbox_enabled', 'integer', (c) => c.notNull())
      .execute();
    await this.db.schema
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
    await this.db.schema
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
    await this.db.schema
      .createTable('environment_users').ifNotExists()
      .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
      .addColumn('upn', 'text', (c) => c.notNull())
      .addColumn('upn_key', 'text', (c) => c.notNull())
      .addColumn('roles', 'text', (c) => c.notNull())
      .addColumn('previous_upn', 'text')
      .addPrimaryKeyConstraint('environment_users_pk', ['environment_id', 'upn_key'])
      .execute();
    await this.db.schema
      .createTable('user_remaps').ifNotExists()
      .addColumn('seq', this.dialect === 'postgres' ? 'serial' : 'integer', (c) =>
        this.dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
      )
      .addColumn('migration_id', 'text', (c) => c.notNull())
      .addColumn('environment_id', 'text', (c) => c.notNull())
      .addColumn('source_key', 'text', (c) => c.notNull())
      .addColumn('source_upn', 'text', (c) => c.notNull())
      .addColumn('target_upn', 'text', (c) => c.notNull())
      .addColumn('applied_count', 'integer', (c) => c.notNull())
      .addColumn('applied_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('user_remaps_once', ['migration_id', 'source_key'])
      .execute();
  }

  async loadWorld(world: World): Promise<void> {
    await this.writeTransaction(async (trx) => {
      await trx.deleteFrom('user_remaps').execute();
      await trx.deleteFrom('environment_users').execute();
      await trx.deleteFrom('environments').execute();
      await trx.deleteFrom('tenant_users').execute();
      await trx.deleteFrom('tenants').execute();
      for (const tenant of world.tenants) {
        await trx.insertInto('tenants').values({
          id: tenant.id,
          name: tenant.name,
          cloud: tenant.cloud,
          geo: tenant.geo ?? null,
          default_domain: tenant.defaultDomain,
          domains: JSON.stringify(tenant.domains),
          lockbox_enabled: tenant.lockboxEnabled ? 1 : 0,
        }).execute();
        await insertChunked(trx, 'tenant_users', tenant.users.map((u) => ({
          tenant_id: tenant.id,
          upn: u.upn,
          upn_key: key(u.upn),
          enabled: u.enabled ? 1 : 0,
          licenses: JSON.stringify(u.licenses),
          mailbox: u.mailbox ? 1 : 0,
          roles: JSON.stringify(u.roles),
        })));
      }
      for (const environment of world.environments) {
        const tenant = world.tenants.find((t) => t.id === environment.tenantId);
        await trx.insertInto('environments').values({
          id: environment.id,
          name: environment.name,
          type: environment.type,
          url: environment.url,
          org_id: environment.orgId,
          tenant_id: environment.tenantId,
          admin_mode: environment.adminMode ? 1 : 0,
          geo: environment.geo ?? tenant?.geo ?? null,
          managed: environment.managed ? 1 : 0,
          linked_to_finance_operations: environment.linkedToFinanceOperations ? 1 : 0,
          source_access: 1,
          previous_tenant_id: null,
          components: JSON.stringify(environment.components),
        }).execute();
        await insertChunked(trx, 'environment_users', environment.users.map((u) => ({
          environment_id: environment.id,
          upn: u.upn,
          upn_key: key(u.upn),
          roles: JSON.stringify(u.roles),
          previous_upn: null,
        })));
      }
    });
  }

  async getTenant(tenantId: string): Promise<TenantRecord | undefined> {
    const row = await this.db.selectFrom('tenants').selectAll().where('id', '=', tenantId).executeTakeFirst();
    return row && toTenant(row);
  }

  async listTenants(): Promise<TenantRecord[]> {
    return (await this.db.selectFrom('tenants').selectAll().orderBy('id').execute()).map(toTenant);
  }

  async getTenantUser(tenantId: string, upn: string): Promise<TenantUserRecord | undefined> {
    const row = await this.db.selectFrom('tenant_users').selectAll().where('tenant_id', '=', tenantId).where('upn_key', '=', key(upn)).executeTakeFirst();
    return row && toTenantUser(row);
  }

  async findTenantUsers(tenantId: string, upns: string[]): Promise<Map<string, TenantUserRecord>> {
    const found = new Map<string, TenantUserRecord>();
    const keys = [...new Set(upns.map(key))];
    for (let i = 0; i < keys.length; i += CHUNK) {
      const rows = await this.db.selectFrom('tenant_users').selectAll()
        .where('tenant_id', '=', tenantId)
        .where('upn_key', 'in', keys.slice(i, i + CHUNK))
        .execute();
      for (const row of rows) found.set(row.upn_key, toTenantUser(row));
    }
    return found;
  }

  async getEnvironment(environmentId: string): Promise<EnvironmentRecord | undefined> {
    const row = await this.db.selectFrom('environments').selectAll().where('id', '=', environmentId).executeTakeFirst();
    return row && toEnvironment(row);
  }

  async listEnvironments(tenantId?: string): Promise<EnvironmentRecord[]> {
    let query = this.db.selectFrom('environments').selectAll().orderBy('id');
    if (tenantId) query = query.where('tenant_id', '=', tenantId);
    return (await query.execute()).map(toEnvironment);
  }

  async listEnvironmentUsers(environmentId: string, options: { afterUpn?: string; limit?: number } = {}): Promise<EnvironmentUserRecord[]> {
    let query = this.db.selectFrom('environment_users').selectAll()
      .where('environment_id', '=', environmentId)
      .orderBy('upn_key')
      .limit(options.limit ?? 1000);
    if (options.afterUpn !== undefined) query = query.where('upn_key', '>', key(options.afterUpn));
    return (await query.execute()).map(toEnvironmentUser);
  }

  async countEnvironmentUsers(environmentId: string): Promise<number> {
    const row = await this.db.selectFrom('environment_users')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .where('environment_id', '=', environmentId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async getEnvironmentUser(environmentId: string, upn: string): Promise<EnvironmentUserRecord | undefined> {
    const row = await this.db.selectFrom('environment_users').selectAll()
      .where('environment_id', '=', environmentId).where('upn_key', '=', key(upn)).executeTakeFirst();
    return row && toEnvironmentUser(row);
  }

  async setAdminMode(environmentId: string, adminMode: boolean): Promise<void> {
    await this.db.updateTable('environments').set({ admin_mode: adminMode ? 1 : 0 }).where('id', '=', environmentId).execute();
  }

  async relinkEnvironment(environmentId: string, targetTenantId: string, _migrationId: string): Promise<void> {
    await this.writeTransaction(async (trx) => {
      const row = await trx.selectFrom('environments').select(['tenant_id']).where('id', '=', environmentId).executeTakeFirst();
      if (!row) throw new Error(`environment '${environmentId}' does not exist`);
      if (row.tenant_id === targetTenantId) return;
      await trx.updateTable('environments')
        .set({ tenant_id: targetTenantId, previous_tenant_id: row.tenant_id })
        .where('id', '=', environmentId)
        .execute();
    });
  }

  async setSourceAccess(environmentId: string, sourceAccess: boolean): Promise<void> {
    await this.db.updateTable('environments').set({ source_access: sourceAccess ? 1 : 0 }).where('id', '=', environmentId).execute();
  }

  async remapEnvironmentUser(environmentId: string, migrationId: string, sourceUpn: string, targetUpn: string): Promise<RemapResult> {
    return this.writeTransaction(async (trx) => {
      const done = await trx.selectFrom('user_remaps').select(['seq'])
        .where('migration_id', '=', migrationId).where('source_key', '=', key(sourceUpn)).executeTakeFirst();
      if (done) return { applied: false };
      const user = await trx.selectFrom('environment_users').selectAll()
        .where('environment_id', '=', environmentId).where('upn_key', '=', key(sourceUpn)).executeTakeFirst();
      if (!user) return { applied: false, notInEnvironment: true };
      const existingTarget = await trx.selectFrom('environment_users').select(['upn_key'])
        .where('environment_id', '=', environmentId).where('upn_key', '=', key(targetUpn)).executeTakeFirst();
      if (existingTarget && existingTarget.upn_key !== user.upn_key) {
        // The target identity is already a user here: the source user merges into it.
        await trx.deleteFrom('environment_users').where('environment_id', '=', environmentId).where('upn_key', '=', user.upn_key).execute();
        await trx.updateTable('environment_users').set({ previous_upn: user.upn })
          .where('environment_id', '=', environmentId).where('upn_key', '=', key(targetUpn)).execute();
      } else {
        await trx.updateTable('environment_users')
          .set({ upn: targetUpn, upn_key: key(targetUpn), previous_upn: user.upn })
          .where('environment_id', '=', environmentId).where('upn_key', '=', user.upn_key)
          .execute();
      }
      await trx.insertInto('user_remaps').values({
        migration_id: migrationId,
        environment_id: environmentId,
        source_key: key(sourceUpn),
        source_upn: user.upn,
        target_upn: targetUpn,
        applied_count: 1,
        applied_at: new Date().toISOString(),
      }).execute();
      return { applied: true };
    });
  }

  async listRemaps(migrationId: string): Promise<{ sourceUpn: string; targetUpn: string; appliedCount: number }[]> {
    const rows = await this.db.selectFrom('user_remaps').select(['source_upn', 'target_upn', 'applied_count'])
      .where('migration_id', '=', migrationId).orderBy('seq').execute();
    return rows.map((r) => ({ sourceUpn: r.source_upn, targetUpn: r.target_upn, appliedCount: Number(r.applied_count) }));
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}

async function insertChunked<T extends 'tenant_users' | 'environment_users'>(
  trx: Kysely<Database>,
  table: T,
  rows: (T extends 'tenant_users' ? TenantUsersTable : EnvironmentUsersTable)[],
): Promise<void> {
  for (let i = 0; i < rows.length; i += 200) {
    const chunk = rows.slice(i, i + 200);
    if (chunk.length > 0) await trx.insertInto(table).values(chunk as never).execute();
  }
}

function toTenant(row: TenantsTable): TenantRecord {
  return {
    id: row.id,
    name: row.name,
    cloud: row.cloud as Cloud,
    geo: row.geo,
    defaultDomain: row.default_domain,
    domains: JSON.parse(row.domains) as string[],
    lockboxEnabled: bool(row.lockbox_enabled),
  };
}

function toTenantUser(row: TenantUsersTable): TenantUserRecord {
  return {
    tenantId: row.tenant_id,
    upn: row.upn,
    enabled: bool(row.enabled),
    licenses: JSON.parse(row.licenses) as string[],
    mailbox: bool(row.mailbox),
    roles: JSON.parse(row.roles) as string[],
  };
}

function toEnvironment(row: EnvironmentsTable): EnvironmentRecord {
  return {
    id: row.id,
    name: row.name,
    type: row.type as EnvironmentType,
    url: row.url,
    orgId: row.org_id,
    tenantId: row.tenant_id,
    adminMode: bool(row.admin_mode),
    geo: row.geo,
    managed: bool(row.managed),
    linkedToFinanceOperations: bool(row.linked_to_finance_operations),
    sourceAccess: bool(row.source_access),
    previousTenantId: row.previous_tenant_id,
    components: JSON.parse(row.components) as EnvironmentRecord['components'],
  };
}

function toEnvironmentUser(row: EnvironmentUsersTable): EnvironmentUserRecord {
  return {
    environmentId: row.environment_id,
    upn: row.upn,
    roles: JSON.parse(row.roles) as string[],
    previousUpn: row.previous_upn,
  };
}
