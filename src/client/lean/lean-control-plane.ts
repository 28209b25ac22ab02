// What `t2t requests` reads of the control plane — the acting admin's tenants and
// the phase changes stall detection reads — straight from the SQLite file with
// better-sqlite3, read-only: Kysely, the schema's migration and the migration
// service were about a third of a `requests`'s start. Undefined wherever the
// usual path must answer (PostgreSQL, the Microsoft back end, no file yet, a
// file without the tables or a schema it does not know, any error): that path
// gives the same answer, or the same one line.
import { existsSync } from 'node:fs';
import type { Database } from 'better-sqlite3';
import type { Config } from '../../config';
import { isPostgresUrl, sqliteFilePath } from '../../controlplane/database-url';
import { upnKey } from '../../controlplane/rows';
import { isMissingTable, PHASE_CHANGES_SQL, phaseChangesOf } from '../../operations/phase-history';
import type { PhaseChange } from '../../operations/phase-times';

/** better-sqlite3's compiled module where its build puts it; undefined: found as the package finds it. */
function nativeModule(): string | undefined {
  try {
    return require.resolve('better-sqlite3/build/Release/better_sqlite3.node');
  } catch {
    return undefined;
  }
}

export class LeanControlPlane {
  private constructor(private readonly db: Database) {}

  static open(config: Pick<Config, 'backend' | 'databaseUrl'>): LeanControlPlane | undefined {
    if (config.backend !== 'simulated' || isPostgresUrl(config.databaseUrl)) return undefined;
    const file = sqliteFilePath(config.databaseUrl);
    if (!existsSync(file)) return undefined;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const SQLite = require('better-sqlite3') as typeof import('better-sqlite3');
      // The native module by its path: the `bindings` package would search for it (stack capture, a
      // dozen stats) on every start.
      const db = new SQLite(file, { readonly: true, fileMustExist: true, nativeBinding: nativeModule() });
      // As the control plane's own connection waits for a writer (database.ts).
      db.pragma('busy_timeout = 15000');
      return new LeanControlPlane(db);
    } catch {
      return undefined;
    }
  }

  /** The tenants the admin is a user of, by id (SimulatedMigrationService.tenantsOf's answer). */
  tenantsOf(actor: string): string[] | undefined {
    try {
      const rows = this.db
        .prepare('SELECT t.id FROM tenants t WHERE EXISTS (SELECT 1 FROM tenant_users u WHERE u.tenant_id = t.id AND u.upn_key = ?) ORDER BY t.id')
        .all(upnKey(actor)) as { id: string }[];
      return rows.map((row) => row.id);
    } catch {
      return undefined;
    }
  }

  /** readPhaseChanges's answer: none before any worker of this version created the outbox. */
  phaseChanges(): PhaseChange[] | undefined {
    try {
      return phaseChangesOf(this.db.prepare(PHASE_CHANGES_SQL).all() as { migration_id: string; created_at: string; body: string }[]);
    } catch (err) {
      return isMissingTable(err) ? [] : undefined;
    }
  }

  close(): void {
    this.db.close();
  }
}
