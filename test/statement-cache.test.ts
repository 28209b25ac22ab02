import assert from 'node:assert/strict';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { withStatementCache } from '../src/controlplane/statement-cache';

describe('SQLite statement cache', () => {
  it('compiles a repeated query once and still answers each call with its own parameters', async () => {
    const sqlite = new SQLite(':memory:');
    let prepared = 0;
    const counting = { close: () => sqlite.close(), prepare: (text: string) => ((prepared += 1), sqlite.prepare(text)) };
    const db = new Kysely<{ t: { id: number; name: string } }>({ dialect: new SqliteDialect({ database: withStatementCache(counting) }) });
    await sql`create table t (id integer primary key, name text)`.execute(db);
    for (let i = 0; i < 50; i += 1) await db.insertInto('t').values({ id: i, name: `n${i}` }).execute();
    const names: string[] = [];
    for (let i = 0; i < 50; i += 1) names.push((await db.selectFrom('t').select('name').where('id', '=', i).executeTakeFirstOrThrow()).name);
    assert.deepEqual(names, Array.from({ length: 50 }, (_, i) => `n${i}`));
    await db.transaction().execute(async (tx) => {
      await tx.updateTable('t').set({ name: 'x' }).where('id', '=', 1).execute();
    });
    // create, insert, select, and begin / update / commit: each compiled once.
    assert.equal(prepared, 6);
    await db.destroy();
  });

  it('keeps a bounded number of statements: queries of ever new text still run', async () => {
    const sqlite = new SQLite(':memory:');
    const db = new Kysely<{ t: { id: number } }>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
    await sql`create table t (id integer primary key)`.execute(db);
    await db.insertInto('t').values({ id: 1 }).execute();
    for (let n = 1; n <= 700; n += 1) {
      const ids = Array.from({ length: n }, (_, i) => i + 1);
      assert.equal((await db.selectFrom('t').select('id').where('id', 'in', ids).execute()).length, 1);
    }
    await db.destroy();
  });
});
