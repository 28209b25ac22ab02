// The migrations' audit trail: every accepted and refused admin action, in an
// append-only table of the control-plane database rather than in workflow
// state, so that no number of refused actions can exhaust a workflow's history
// or memory. Repeated identical refusals arrive as one entry with a count.
import { Generated, Kysely, sql } from 'kysely';
import { openDatabase, type Dialect } from './database';
import type { ActionProof } from '../identity/action-proof';

export interface AuditRecord {
  /** unique per migration: written again (a retried activity) it changes nothing */
  entryId: string;
  migrationId: string;
  at: string;
  action: string;
  actor: string;
  outcome: 'accepted' | 'refused';
  reason?: string;
  requestId?: string;
  note?: string;
  /** the gateway's proof the action carried (kept whole: `t2t evidence verify` checks its signature) */
  proof?: ActionProof;
  /** how many identical refusals this entry stands for */
  count: number;
}

interface AuditTable {
  seq: Generated<number>;
  migration_id: string;
  entry_id: string;
  at: string;
  action: string;
  actor: string;
  outcome: string;
  reason: string | null;
  request_id: string | null;
  note: string | null;
  /** the proof as JSON */
  proof: string | null;
  count: number;
}

/** A signed start (a rehearsal's) and the run it was spent by: one run per proof. */
interface SignedStartTable {
  action_id: string;
  /** the first run id of the workflow that started with it */
  spent_by: string;
  at: string;
}

interface AuditDatabase {
  audit_entries: AuditTable;
  signed_starts: SignedStartTable;
}

/** rows a multi-row INSERT carries: 12 columns × 100 stays under every limit */
const INSERT_CHUNK = 100;

export interface AuditLog {
  append(entries: AuditRecord[]): Promise<void>;
  /** A migration's entries, oldest first. */
  list(migrationId: string, options?: { limit?: number }): Promise<AuditRecord[]>;
  /**
   * Spends a signed start's proof (its action id) for a run: undefined when this run has it (the first
   * to ask, or the same run again: a retried activity), else the run that spent it.
   */
  spendSignedStart(actionId: string, run: string): Promise<string | undefined>;
  close(): Promise<void>;
}

export class SqlAuditLog implements AuditLog {
  constructor(
    private readonly db: Kysely<AuditDatabase>,
    private readonly dialect: Dialect,
    private readonly release: () => Promise<void>,
  ) {}

  async createTable(): Promise<void> {
    await this.db.schema
      .createTable('audit_entries').ifNotExists()
      .addColumn('seq', this.dialect === 'postgres' ? 'serial' : 'integer', (c) => (this.dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn('migration_id', 'text', (c) => c.notNull())
      .addColumn('entry_id', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('outcome', 'text', (c) => c.notNull())
      .addColumn('reason', 'text')
      .addColumn('request_id', 'text')
      .addColumn('note', 'text')
      .addColumn('count', 'integer', (c) => c.notNull())
      .addUniqueConstraint('audit_entries_once', ['migration_id', 'entry_id'])
      .execute();
    await this.db.schema
      .createTable('signed_starts').ifNotExists()
      .addColumn('action_id', 'text', (c) => c.primaryKey())
      .addColumn('spent_by', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .execute();
    // A table made before signed actions gets the proof column; another process may add it at the same moment.
    const hasProof = async () => (await this.db.introspection.getTables()).find((t) => t.name === 'audit_entries')?.columns.some((c) => c.name === 'proof') ?? false;
    if (!(await hasProof())) {
      try {
        await this.db.schema.alterTable('audit_entries').addColumn('proof', 'text').execute();
      } catch (err) {
        if (!(await hasProof())) throw err;
      }
    }
  }

  async append(entries: AuditRecord[]): Promise<void> {
    for (let i = 0; i < entries.length; i += INSERT_CHUNK) {
      const rows = entries.slice(i, i + INSERT_CHUNK).map((e) => ({
        migration_id: e.migrationId,
        entry_id: e.entryId,
        at: e.at,
        action: e.action,
        actor: e.actor,
        outcome: e.outcome,
        reason: e.reason ?? null,
        request_id: e.requestId ?? null,
        note: e.note ?? null,
        proof: e.proof ? JSON.stringify(e.proof) : null,
        count: e.count,
      }));
      // Append-only. The same entry written again comes from a retried flush, whose workflow task may
      // have counted more identical refusals into it since: keep the larger count, change nothing else.
      const larger = this.dialect === 'postgres' ? sql<number>`GREATEST(audit_entries.count, excluded.count)` : sql<number>`max(audit_entries.count, excluded.count)`;
      await this.db
        .insertInto('audit_entries')
        .values(rows)
        .onConflict((c) => c.columns(['migration_id', 'entry_id']).doUpdateSet({ count: larger }))
        .execute();
    }
  }

  async spendSignedStart(actionId: string, run: string): Promise<string | undefined> {
    // The insert decides between two runs racing for one proof; the read says who won.
    await this.db.insertInto('signed_starts').values({ action_id: actionId, spent_by: run, at: new Date().toISOString() }).onConflict((c) => c.column('action_id').doNothing()).execute();
    const row = await this.db.selectFrom('signed_starts').select('spent_by').where('action_id', '=', actionId).executeTakeFirstOrThrow();
    return row.spent_by === run ? undefined : row.spent_by;
  }

  async list(migrationId: string, options: { limit?: number } = {}): Promise<AuditRecord[]> {
    let query = this.db.selectFrom('audit_entries').selectAll().where('migration_id', '=', migrationId).orderBy('seq');
    if (options.limit !== undefined) query = query.limit(options.limit);
    const rows = await query.execute();
    return rows.map((r) => ({
      entryId: r.entry_id,
      migrationId: r.migration_id,
      at: r.at,
      action: r.action,
      actor: r.actor,
      outcome: r.outcome as AuditRecord['outcome'],
      ...(r.reason !== null ? { reason: r.reason } : {}),
      ...(r.request_id !== null ? { requestId: r.request_id } : {}),
      ...(r.note !== null ? { note: r.note } : {}),
      ...(r.proof !== null && r.proof !== undefined ? { proof: JSON.parse(r.proof) as ActionProof } : {}),
      count: Number(r.count),
    }));
  }

  async close(): Promise<void> {
    await this.release();
  }
}

/** Opens the audit log in the control-plane database (same URL), creating its table if needed. */
export async function openAuditLog(databaseUrl: string): Promise<SqlAuditLog> {
  const { db, dialect, release } = await openDatabase(databaseUrl);
  const log = new SqlAuditLog(db as unknown as Kysely<AuditDatabase>, dialect, release);
  if (dialect === 'postgres') {
    // Two workers starting at once would race on CREATE TABLE IF NOT EXISTS in PostgreSQL's catalog.
    await (db as unknown as Kysely<AuditDatabase>).transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(72220747)`.execute(trx);
      await new SqlAuditLog(trx, dialect, async () => undefined).createTable();
    });
  } else {
    await log.createTable();
  }
  return log;
}
