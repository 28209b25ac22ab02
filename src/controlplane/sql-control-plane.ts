// The control plane on SQL: SQLite or PostgreSQL through one Kysely code path.
import { Kysely, sql, Transaction, type Selectable } from 'kysely';
import type { Database, Dialect, UserRemapsTable } from './database';
import type {
  ControlPlane,
  EnvironmentRecord,
  EnvironmentUserRecord,
  MigrationRequestRecord,
  RemapResult,
  RequestApprovalStatus,
  TenantRecord,
  TenantUserRecord,
  UserRemap,
} from './control-plane';
import { ControlPlaneNotFoundError } from './errors';
import { parseWorld, type World } from './world';
import { createSchema } from './schema';
import { environmentRow, environmentUserRow, tenantRow, tenantUserRow, toEnvironment, toEnvironmentUser, toMigrationRequest, toTenant, toTenantUser, upnKey } from './rows';

/** SQLite allows 32,766 variables a statement (older builds 999); PostgreSQL 65,535. */
const LOOKUP_CHUNK = 500;
/** rows a multi-row INSERT carries: 7 columns × 200 stays under every limit */
const INSERT_CHUNK = 200;
/** users undone in one transaction when the caller does not say */
const UNDO_CHUNK = 500;
/** any constant: it names the lock that serialises schema creation across workers */
const SCHEMA_LOCK = 72_220_746;

type Db = Kysely<Database> | Transaction<Database>;

export class SqlControlPlane implements ControlPlane {
  constructor(
    private readonly db: Kysely<Database>,
    readonly dialect: Dialect,
    private readonly release: () => Promise<void> = () => db.destroy(),
  ) {}

  /**
   * A transaction that writes. On SQLite it takes the write lock at BEGIN
   * (IMMEDIATE): a transaction that reads first and upgrades later fails at once
   * with "database is locked" when another process writes, whatever the busy
   * timeout; taking the lock first makes it wait its turn instead.
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
    await this.writeTransaction(async (trx) => {
      // Two workers starting at once would race on CREATE TABLE IF NOT EXISTS in
      // PostgreSQL's catalog; SQLite's BEGIN IMMEDIATE already serialises them.
      if (this.dialect === 'postgres') await sql`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK})`.execute(trx);
      await createSchema(trx, this.dialect);
    });
  }

  async loadWorld(world: World): Promise<void> {
    // Checked again here so that nothing half-valid is ever written, whoever calls.
    const checked = parseWorld(world);
    await this.writeTransaction(async (trx) => {
      for (const table of ['migration_requests', 'user_remaps', 'environment_users', 'environments', 'tenant_users', 'tenants'] as const) {
        await trx.deleteFrom(table).execute();
      }
      for (const tenant of checked.tenants) {
        await trx.insertInto('tenants').values(tenantRow(tenant)).execute();
        for (const chunk of chunks(tenant.users.map((user) => tenantUserRow(tenant.id, user)), INSERT_CHUNK)) {
          await trx.insertInto('tenant_users').values(chunk).execute();
        }
      }
      for (const environment of checked.environments) {
        await trx.insertInto('environments').values(environmentRow(environment)).execute();
        for (const chunk of chunks(environment.users.map((user) => environmentUserRow(environment.id, user)), INSERT_CHUNK)) {
          await trx.insertInto('environment_users').values(chunk).execute();
        }
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
    const row = await this.db.selectFrom('tenant_users').selectAll()
      .where('tenant_id', '=', tenantId).where('upn_key', '=', upnKey(upn))
      .executeTakeFirst();
    return row && toTenantUser(row);
  }

  async findTenantUsers(tenantId: string, upns: string[]): Promise<Map<string, TenantUserRecord>> {
    const found = new Map<string, TenantUserRecord>();
    const keys = [...new Set(upns.map(upnKey))];
    for (const chunk of chunks(keys, LOOKUP_CHUNK)) {
      const rows = await this.db.selectFrom('tenant_users').selectAll()
        .where('tenant_id', '=', tenantId).where('upn_key', 'in', chunk)
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
    let query = this.db.selectFrom('environments').selectAll().where('copy_of', 'is', null).orderBy('id');
    if (tenantId !== undefined) query = query.where('tenant_id', '=', tenantId);
    return (await query.execute()).map(toEnvironment);
  }

  async listEnvironmentUsers(environmentId: string, options: { afterUpn?: string; limit?: number } = {}): Promise<EnvironmentUserRecord[]> {
    let query = this.db.selectFrom('environment_users').selectAll()
      .where('environment_id', '=', environmentId)
      .orderBy('upn_key')
      .limit(Math.max(1, options.limit ?? 1000));
    if (options.afterUpn !== undefined) query = query.where('upn_key', '>', upnKey(options.afterUpn));
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
      .where('environment_id', '=', environmentId).where('upn_key', '=', upnKey(upn))
      .executeTakeFirst();
    return row && toEnvironmentUser(row);
  }

  async setAdminMode(environmentId: string, adminMode: boolean): Promise<void> {
    const result = await this.db.updateTable('environments').set({ admin_mode: adminMode ? 1 : 0 }).where('id', '=', environmentId).executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) throw new ControlPlaneNotFoundError('environment', environmentId);
  }

  async setSourceAccess(environmentId: string, sourceAccess: boolean): Promise<void> {
    const result = await this.db.updateTable('environments').set({ source_access: sourceAccess ? 1 : 0 }).where('id', '=', environmentId).executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) throw new ControlPlaneNotFoundError('environment', environmentId);
  }

  async relinkEnvironment(environmentId: string, targetTenantId: string, _migrationId: string): Promise<void> {
    await this.writeTransaction(async (trx) => {
      const environment = await trx.selectFrom('environments').select(['tenant_id']).where('id', '=', environmentId).executeTakeFirst();
      if (!environment) throw new ControlPlaneNotFoundError('environment', environmentId);
      // Already there: a retry after a crash between commit and acknowledgement.
      if (environment.tenant_id === targetTenantId) return;
      const target = await trx.selectFrom('tenants').select(['id']).where('id', '=', targetTenantId).executeTakeFirst();
      if (!target) throw new ControlPlaneNotFoundError('tenant', targetTenantId);
      await trx.updateTable('environments')
        .set({ tenant_id: targetTenantId, previous_tenant_id: environment.tenant_id })
        .where('id', '=', environmentId)
        .execute();
    });
  }

  async remapEnvironmentUser(environmentId: string, migrationId: string, sourceUpn: string, targetUpn: string): Promise<RemapResult> {
    return this.writeTransaction((trx) => remapOne(trx, environmentId, migrationId, { sourceUpn, targetUpn }));
  }

  async remapEnvironmentUsers(environmentId: string, migrationId: string, pairs: UserRemap[]): Promise<RemapResult[]> {
    if (pairs.length === 0) return [];
    // Claimed in one order by every caller, so that two overlapping batches on
    // PostgreSQL wait for each other instead of deadlocking.
    const order = pairs.map((_, i) => i).sort((a, b) => compare(upnKey(pairs[a].sourceUpn), upnKey(pairs[b].sourceUpn)));
    return this.writeTransaction(async (trx) => {
      const results: RemapResult[] = new Array(pairs.length);
      for (const i of order) results[i] = await remapOne(trx, environmentId, migrationId, pairs[i]);
      return results;
    });
  }

  async countRemaps(migrationId: string): Promise<number> {
    const row = await this.db.selectFrom('user_remaps').select((eb) => eb.fn.countAll().as('n'))
      .where('migration_id', '=', migrationId).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async listRemaps(migrationId: string): Promise<{ sourceUpn: string; targetUpn: string; appliedCount: number }[]> {
    const rows = await this.db.selectFrom('user_remaps').select(['source_upn', 'target_upn', 'applied_count'])
      .where('migration_id', '=', migrationId).orderBy('seq').execute();
    return rows.map((r) => ({ sourceUpn: r.source_upn, targetUpn: r.target_upn, appliedCount: Number(r.applied_count) }));
  }

  async undoRemaps(environmentId: string, migrationId: string, options: { limit?: number } = {}): Promise<number> {
    const limit = Math.max(1, options.limit ?? UNDO_CHUNK);
    return this.writeTransaction(async (trx) => {
      let query = trx.selectFrom('user_remaps').selectAll()
        .where('migration_id', '=', migrationId).where('environment_id', '=', environmentId)
        .orderBy('seq', 'desc')
        .limit(limit);
      // Two undos at once (a retried attempt beside the one it replaced) take turns on the
      // claims, so that the second finds them gone instead of putting users back twice.
      // SQLite's BEGIN IMMEDIATE already serialises them.
      if (this.dialect === 'postgres') query = query.forUpdate();
      const claims = await query.execute();
      if (claims.length === 0) return 0;
      for (const claim of claims) await undoOne(trx, environmentId, claim);
      await trx.deleteFrom('user_remaps').where('seq', 'in', claims.map((c) => c.seq)).execute();
      return claims.length;
    });
  }

  async relinkBack(environmentId: string, fromTenantId: string, options: { restorePreviousTenantId?: string | null } = {}): Promise<boolean> {
    return this.writeTransaction(async (trx) => {
      const environment = await trx.selectFrom('environments').select(['tenant_id', 'previous_tenant_id']).where('id', '=', environmentId).executeTakeFirst();
      if (!environment) throw new ControlPlaneNotFoundError('environment', environmentId);
      if (environment.tenant_id !== fromTenantId || environment.previous_tenant_id === null) return false;
      await trx.updateTable('environments')
        .set({ tenant_id: environment.previous_tenant_id, previous_tenant_id: options.restorePreviousTenantId ?? null })
        .where('id', '=', environmentId)
        .execute();
      return true;
    });
  }

  async copyEnvironment(environmentId: string, copy: { id: string; name: string }): Promise<EnvironmentRecord> {
    return this.writeTransaction(async (trx) => {
      const existing = await trx.selectFrom('environments').selectAll().where('id', '=', copy.id).executeTakeFirst();
      if (existing) {
        // A retry after a commit whose acknowledgement was lost finds its own copy.
        if (existing.copy_of === environmentId) return toEnvironment(existing);
        throw new Error(`environment id '${copy.id}' is taken by another environment: the copy was not made`);
      }
      const original = await trx.selectFrom('environments').selectAll().where('id', '=', environmentId).executeTakeFirst();
      if (!original) throw new ControlPlaneNotFoundError('environment', environmentId);
      const row = { ...original, id: copy.id, name: copy.name, copy_of: environmentId };
      await trx.insertInto('environments').values(row).execute();
      // One statement, however many users: the copy is whole or absent.
      await sql`INSERT INTO environment_users (environment_id, upn, upn_key, roles, previous_upn)
        SELECT CAST(${copy.id} AS TEXT), upn, upn_key, roles, previous_upn FROM environment_users WHERE environment_id = ${environmentId}`.execute(trx);
      return toEnvironment(row);
    });
  }

  async removeEnvironmentCopy(copyId: string): Promise<boolean> {
    return this.writeTransaction(async (trx) => {
      const environment = await trx.selectFrom('environments').select(['copy_of']).where('id', '=', copyId).executeTakeFirst();
      if (!environment) return false;
      if (!environment.copy_of) throw new Error(`environment '${copyId}' is not a rehearsal copy: it was not removed`);
      await trx.deleteFrom('user_remaps').where('environment_id', '=', copyId).execute();
      await trx.deleteFrom('environment_users').where('environment_id', '=', copyId).execute();
      await trx.deleteFrom('environments').where('id', '=', copyId).where('copy_of', 'is not', null).execute();
      return true;
    });
  }

  async listEnvironmentCopies(environmentId: string): Promise<EnvironmentRecord[]> {
    const rows = await this.db.selectFrom('environments').selectAll().where('copy_of', '=', environmentId).orderBy('id').execute();
    return rows.map(toEnvironment);
  }

  async recordRequest(request: Omit<MigrationRequestRecord, 'approvalStatus' | 'actedBy'>): Promise<void> {
    await this.db.insertInto('migration_requests')
      .values({
        id: request.id,
        environment_id: request.environmentId,
        source_tenant_id: request.sourceTenantId,
        target_tenant_id: request.targetTenantId,
        created_on: request.createdOn,
        created_by: request.createdBy,
        approval_status: 'Pending',
        acted_by: null,
      })
      .onConflict((c) => c.column('id').doNothing())
      .execute();
  }

  async setRequestStatus(id: string, status: RequestApprovalStatus, actedBy: string | null): Promise<void> {
    const result = await this.db.updateTable('migration_requests').set({ approval_status: status, acted_by: actedBy }).where('id', '=', id).executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) throw new ControlPlaneNotFoundError('migration request', id);
  }

  async getRequest(id: string): Promise<MigrationRequestRecord | undefined> {
    const row = await this.db.selectFrom('migration_requests').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toMigrationRequest(row);
  }

  async listRequests(filter: { sourceTenantId?: string; targetTenantId?: string }): Promise<MigrationRequestRecord[]> {
    let query = this.db.selectFrom('migration_requests').selectAll();
    if (filter.sourceTenantId !== undefined) query = query.where('source_tenant_id', '=', filter.sourceTenantId);
    if (filter.targetTenantId !== undefined) query = query.where('target_tenant_id', '=', filter.targetTenantId);
    const rows = await query.orderBy('created_on').orderBy('id').execute();
    return rows.map(toMigrationRequest);
  }

  async close(): Promise<void> {
    await this.release();
  }
}

/** What a re-mapping replaced, kept on its claim (user_remaps.undo_state) so that undoRemaps can put it back. */
interface RemapUndoState {
  /** the user's previous identity before this re-mapping (set when an earlier migration had re-mapped it) */
  previousUpn: string | null;
  /** set when the user merged into a target identity that was already a user of the environment */
  merged?: { sourceRoles: string[]; targetRoles: string[]; targetPreviousUpn: string | null };
}

/**
 * One re-mapping, inside the caller's transaction. The user_remaps row is the
 * claim: inserted first (ON CONFLICT DO NOTHING), so a repeat — a retried
 * activity, or a second worker at the same moment, which waits on the unique
 * key — finds it and changes nothing. applied_count therefore stays 1.
 */
async function remapOne(trx: Db, environmentId: string, migrationId: string, pair: UserRemap): Promise<RemapResult> {
  const sourceKey = upnKey(pair.sourceUpn);
  const targetUpn = pair.targetUpn.trim();
  const targetKey = upnKey(targetUpn);
  const user = await trx.selectFrom('environment_users').selectAll()
    .where('environment_id', '=', environmentId).where('upn_key', '=', sourceKey)
    .executeTakeFirst();
  const claim = await trx.insertInto('user_remaps')
    .values({
      migration_id: migrationId,
      environment_id: environmentId,
      source_key: sourceKey,
      source_upn: user?.upn ?? pair.sourceUpn.trim(),
      target_upn: targetUpn,
      applied_count: 1,
      applied_at: new Date().toISOString(),
      undo_state: user ? JSON.stringify({ previousUpn: user.previous_upn } satisfies RemapUndoState) : null,
    })
    .onConflict((oc) => oc.columns(['migration_id', 'source_key']).doNothing())
    .executeTakeFirst();
  if (Number(claim.numInsertedOrUpdatedRows ?? 0) === 0) return { applied: false };

  const unclaim = async (): Promise<RemapResult> => {
    await trx.deleteFrom('user_remaps').where('migration_id', '=', migrationId).where('source_key', '=', sourceKey).execute();
    return { applied: false, notInEnvironment: true };
  };
  if (!user) return unclaim();

  const existingTarget = targetKey === sourceKey
    ? undefined
    : await trx.selectFrom('environment_users').selectAll()
      .where('environment_id', '=', environmentId).where('upn_key', '=', targetKey)
      .executeTakeFirst();
  if (existingTarget) {
    // The target identity is already a user here: the source user merges into it, keeping both users' roles.
    const targetRoles = JSON.parse(existingTarget.roles) as string[];
    const sourceRoles = JSON.parse(user.roles) as string[];
    const roles = [...new Set([...targetRoles, ...sourceRoles])];
    // Only a merge loses something (the source user's row, the target's roles): keep it for undoRemaps.
    const undo: RemapUndoState = { previousUpn: user.previous_upn, merged: { sourceRoles, targetRoles, targetPreviousUpn: existingTarget.previous_upn } };
    await trx.updateTable('user_remaps').set({ undo_state: JSON.stringify(undo) })
      .where('migration_id', '=', migrationId).where('source_key', '=', sourceKey)
      .execute();
    await trx.deleteFrom('environment_users').where('environment_id', '=', environmentId).where('upn_key', '=', sourceKey).execute();
    await trx.updateTable('environment_users')
      .set({ roles: JSON.stringify(roles), previous_upn: user.upn })
      .where('environment_id', '=', environmentId).where('upn_key', '=', targetKey)
      .execute();
    return { applied: true };
  }
  const updated = await trx.updateTable('environment_users')
    .set({ upn: targetUpn, upn_key: targetKey, previous_upn: user.upn })
    .where('environment_id', '=', environmentId).where('upn_key', '=', sourceKey)
    .executeTakeFirst();
  // Gone between our read and our write (another migration's re-mapping): nothing of ours to keep.
  if (Number(updated.numUpdatedRows) === 0) return unclaim();
  return { applied: true };
}

/**
 * Puts back one user re-mapped under `claim`, inside the caller's transaction, when the
 * environment still shows that re-mapping: the user at the target identity came from the
 * source identity, and nobody took the source identity since.
 */
async function undoOne(trx: Db, environmentId: string, claim: Selectable<UserRemapsTable>): Promise<void> {
  const sourceKey = claim.source_key;
  const targetKey = upnKey(claim.target_upn);
  // Rows claimed before undo_state was kept: a plain re-mapping of a user never re-mapped before, the only kind there was to guess.
  const undo: RemapUndoState = claim.undo_state ? (JSON.parse(claim.undo_state) as RemapUndoState) : { previousUpn: null };
  const current = await trx.selectFrom('environment_users').select(['previous_upn'])
    .where('environment_id', '=', environmentId).where('upn_key', '=', targetKey)
    .executeTakeFirst();
  if (!current || current.previous_upn !== claim.source_upn) return;
  if (sourceKey !== targetKey) {
    const taken = await trx.selectFrom('environment_users').select(['upn'])
      .where('environment_id', '=', environmentId).where('upn_key', '=', sourceKey)
      .executeTakeFirst();
    if (taken) return;
  }
  if (undo.merged) {
    await trx.insertInto('environment_users')
      .values({ environment_id: environmentId, upn: claim.source_upn, upn_key: sourceKey, roles: JSON.stringify(undo.merged.sourceRoles), previous_upn: undo.previousUpn })
      .execute();
    await trx.updateTable('environment_users')
      .set({ roles: JSON.stringify(undo.merged.targetRoles), previous_upn: undo.merged.targetPreviousUpn })
      .where('environment_id', '=', environmentId).where('upn_key', '=', targetKey)
      .execute();
    return;
  }
  await trx.updateTable('environment_users')
    .set({ upn: claim.source_upn, upn_key: sourceKey, previous_upn: undo.previousUpn })
    .where('environment_id', '=', environmentId).where('upn_key', '=', targetKey)
    .execute();
}

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
