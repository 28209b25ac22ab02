// What a control-plane database URL names, without loading a driver (t2t's lean reads use it).

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** The SQLite file a database URL names: a plain path, or the same with a `file:` prefix. */
export function sqliteFilePath(databaseUrl: string): string {
  return databaseUrl.replace(/^file:(\/\/)?/i, '');
}
