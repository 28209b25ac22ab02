// Where the gateway leaves an admin's exchanged token for the worker (on-behalf-of,
// docs/identity.md): one sealed row per signed action, in the control-plane
// database rather than in workflow history. Taken once: the row is deleted as it
// is read, so a retried or replayed action finds nothing. Rows past their expiry
// are never handed out, and are swept whenever a new one is put.
import type { Kysely } from 'kysely';
import { openDatabase, type Database } from './database';

export interface DelegatedTokenRow {
  actionId: string;
  tenantId: string;
  /** the token sealed with the delegation key (src/microsoft/delegation.ts); never the token itself */
  sealed: string;
  expiresAt: Date;
}

export interface DelegatedTokens {
  put(row: DelegatedTokenRow): Promise<void>;
  /** the action's row, deleted as it is read; undefined when there is none, or it has expired */
  take(actionId: string, now?: Date): Promise<DelegatedTokenRow | undefined>;
  close(): Promise<void>;
}

export class SqlDelegatedTokens implements DelegatedTokens {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly release: () => Promise<void>,
  ) {}

  async put(row: DelegatedTokenRow): Promise<void> {
    await this.db.deleteFrom('delegated_tokens').where('expires_at', '<', new Date().toISOString()).execute();
    // An action id is the gateway's, unique per signed action: a second put for it is the same action's.
    await this.db
      .insertInto('delegated_tokens')
      .values({ action_id: row.actionId, tenant_id: row.tenantId, sealed: row.sealed, expires_at: row.expiresAt.toISOString() })
      .onConflict((c) => c.column('action_id').doUpdateSet({ tenant_id: row.tenantId, sealed: row.sealed, expires_at: row.expiresAt.toISOString() }))
      .execute();
  }

  async take(actionId: string, now = new Date()): Promise<DelegatedTokenRow | undefined> {
    // One statement: two attempts racing for the same row cannot both have it.
    const row = await this.db.deleteFrom('delegated_tokens').where('action_id', '=', actionId).returningAll().executeTakeFirst();
    if (!row || Date.parse(row.expires_at) <= now.getTime()) return undefined;
    return { actionId: row.action_id, tenantId: row.tenant_id, sealed: row.sealed, expiresAt: new Date(row.expires_at) };
  }

  async close(): Promise<void> {
    await this.release();
  }
}

/** The store in the control-plane database (its table comes with the control plane's schema: migrateSchema() first). */
export async function openDelegatedTokens(databaseUrl: string): Promise<SqlDelegatedTokens> {
  const { db, release } = await openDatabase(databaseUrl);
  return new SqlDelegatedTokens(db, release);
}
