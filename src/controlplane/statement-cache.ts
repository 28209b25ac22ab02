// better-sqlite3 behind Kysely compiles every query's SQL again on each call
// (Kysely's driver calls prepare() every time); the control plane asks the same
// few dozen statements thousands of times, so the compiled statements are kept.
// Safe to share: Kysely runs one query at a time on the connection.
import type { SqliteDatabase, SqliteStatement } from 'kysely';

/** statements kept at most; SQL built with lists of varying length should not grow it without end */
const MAX_STATEMENTS = 500;

export function withStatementCache(database: SqliteDatabase): SqliteDatabase {
  const statements = new Map<string, SqliteStatement>();
  return {
    close: () => database.close(),
    prepare(sql: string): SqliteStatement {
      const kept = statements.get(sql);
      if (kept) return kept;
      const statement = database.prepare(sql);
      if (statements.size >= MAX_STATEMENTS) statements.delete(statements.keys().next().value!);
      statements.set(sql, statement);
      return statement;
    },
  };
}
