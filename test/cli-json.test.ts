// `--json` says all the text says: for each command, every fact its text prints
// (ids, tenants, people, times, phases, status strings, counts, URLs) is in its
// JSON document, so that a script never needs to read the text. Real dev server,
// Azurite and control-plane file; the client as a separate process.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { RunningAzurite } from './helpers/azurite';
import { useRealServers } from './helpers/servers';
import { makeTestWorld, TestWorld } from './helpers/world';
import { startProduct, uploadWithSas, Product, rawClientEnv } from './helpers/product';
import { projectRoot } from '../src/temporal-binaries';
import { isFinalPhase, PHASES } from '../src/contracts';

const CLI = path.join(projectRoot(), 'dist', 'src', 'client', 'cli.js');

/** The facts a line of text states, as tokens a document must hold: ids, addresses, times, URLs, phases, counts. */
export function factsOf(text: string): string[] {
  const facts = new Set<string>();
  for (const line of text.split('\n')) {
    let rest = line;
    const take = (pattern: RegExp) => {
      for (const m of rest.matchAll(pattern)) facts.add(m[0]);
      rest = rest.replace(pattern, ' ');
    };
    take(/https?:\/\/[^\s,)]+/g);
    take(/\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z\b/g);
    take(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g);
    take(/[\w.+-]+@[\w-]+(?:\.[\w-]+)+/g);
    take(/\b(?:env|t)-[a-z0-9-]+\b/g);
    for (const phase of PHASES) if (new RegExp(`\\b${phase}\\b`).test(rest)) facts.add(phase);
    // Counts, written with thousands separators in text and as numbers in JSON; durations (24h, 5m) are not counts.
    for (const m of rest.replace(/(\d),(\d{3})/g, '$1$2').matchAll(/(?<![\w.:-])\d+(?![\w.:%-])/g)) facts.add(m[0]);
  }
  return [...facts];
}

/** Every leaf of a document as text, for looking facts up in. */
function leaves(value: unknown, into: string[] = []): string[] {
  if (value === null || value === undefined) return into;
  if (typeof value === 'object') {
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
      if (!Array.isArray(value)) into.push(key);
      leaves(v, into);
    }
    return into;
  }
  into.push(String(value));
  return into;
}

/** The facts of `text` the document `json` lacks. */
function missingFacts(text: string, json: unknown): string[] {
  const held = leaves(json);
  return factsOf(text).filter((fact) => !held.some((leaf) => leaf === fact || leaf.includes(fact)));
}

describe('--json says all the text says @integration', function () {
  this.timeout(240_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;
  let w: TestWorld;
  let p: Product;
  let dir: string;
  let succeeded: { migrationId: string; targetMigrationId: string };
  let booked: { migrationId: string; targetMigrationId: string };

  useRealServers((servers) => ({ env, azurite } = servers));
  before(async () => {
    w = makeTestWorld({ users: 4, unmappedUsers: 2, environments: 3 });
    p = await startProduct({ env, azurite, world: w.world });
    dir = mkdtempSync(path.join(os.tmpdir(), 't2t-cli-json-'));
    writeFileSync(path.join(dir, 'usermapping.csv'), 'Source,Destination\nnot-an-email,u1@fabrikam.com\nu2@contoso.com,u2@contoso.com\nu3@contoso.com,u3@fabrikam.com\n');

    const toPrepared = async (environmentId: string) => {
      const submitted = await p.client.submit({ environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
      await p.client.act(submitted.targetMigrationId, 'approve', { actor: w.targetAdmin });
      const storage = await p.client.act(submitted.migrationId, 'requestStorage', { actor: w.sourceAdmin });
      await uploadWithSas(storage.status.storage!.sasUrl, w.mappingCsv);
      const prepared = await p.client.act(submitted.migrationId, 'prepare', { actor: w.sourceAdmin, targetTenantId: w.target, mappingContainer: storage.status.storage!.sasUrl });
      assert.equal(prepared.status.phase, 'Prepared', prepared.status.reason);
      return submitted;
    };
    succeeded = await toPrepared(w.environmentIds[0]);
    await p.client.act(succeeded.migrationId, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target });
    const final = await p.client.waitForStatus(await p.client.find(succeeded.migrationId), (s) => isFinalPhase(s.phase), 120_000);
    assert.equal(final.phase, 'Succeeded', final.reason);
    booked = await toPrepared(w.environmentIds[1]);
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const booking = await p.client.act(booked.migrationId, 'migrate', { actor: w.sourceAdmin, targetTenantId: w.target, at });
    assert.equal(booking.entry.outcome, 'accepted', booking.entry.reason);
    await p.client.submit({ environmentId: w.environmentIds[2], targetTenantId: w.target, actor: w.sourceAdmin });
  });
  after(async () => {
    await p?.stop();
  });

  function t2t(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], {
        cwd: dir,
        env: rawClientEnv(p, env.address),
      }, (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }));
    });
  }

  /** Runs a command twice, as text and with --json: the same exit code, and every fact of the text in the document. */
  async function heldToText(args: string[], expectedCode = 0): Promise<{ text: string; json: unknown }> {
    const [text, json] = await Promise.all([t2t(args), t2t(['--json', ...args])]);
    assert.equal(text.code, expectedCode, `${args.join(' ')}: ${text.stderr}`);
    assert.equal(json.code, expectedCode, `${args.join(' ')} --json: ${json.stderr}`);
    const document = JSON.parse(json.stdout) as unknown;
    assert.ok(factsOf(text.stdout).length > 0, `${args.join(' ')} prints facts`);
    assert.deepEqual(missingFacts(text.stdout, document), [], `${args.join(' ')}: facts in the text and not in --json\n${text.stdout}`);
    return { text: text.stdout, json: document };
  }

  it('the fact reader finds ids, people, times, phases and counts in a line', () => {
    assert.deepEqual(
      factsOf('  Cutover booked for: 2026-12-05T22:00:00.000Z (by admin@contoso.com); Phase: Prepared, 1,234 rows in env-sales, 24h'),
      ['2026-12-05T22:00:00.000Z', 'admin@contoso.com', 'env-sales', 'Prepared', '1234'],
    );
  });

  it('status of a succeeded migration, in the source and the target view', async () => {
    const source = await heldToText(['status', '--migration-id', succeeded.migrationId]);
    assert.match(source.text, /Not migrated: /, 'the names of the users left out are printed');
    await heldToText(['status', '--migration-id', succeeded.targetMigrationId]);
    await heldToText(['status', '--migration-id', succeeded.migrationId, '--full']);
  });

  it('status of a booked cutover names who booked it, in --json too (scheduledBy)', async () => {
    const { text, json } = await heldToText(['status', '--migration-id', booked.migrationId]);
    assert.ok(text.includes(`(by ${w.sourceAdmin})`), text);
    assert.equal((json as { scheduledBy: string }).scheduledBy, w.sourceAdmin);
  });

  it('requests and approvals, open and all', async () => {
    for (const [who, command] of [[w.sourceAdmin, 'requests'], [w.targetAdmin, 'approvals']]) {
      await heldToText(['--as', who, command]);
      await heldToText(['--as', who, command, '--all']);
    }
  });

  it('world show, whole and for one environment', async () => {
    await heldToText(['world', 'show']);
    await heldToText(['world', 'show', '--environment', w.environmentIds[0]]);
  });

  it('mapping check with errors, and with the directory checks', async () => {
    await heldToText(['mapping', 'check', '--file', 'usermapping.csv'], 1);
    await heldToText(['--as', w.sourceAdmin, 'mapping', 'check', '--file', 'usermapping.csv', '--target-tenant', w.target], 1);
  });

  it('stats and notify list', async () => {
    await heldToText(['stats']);
    const added = await t2t(['notify', 'add', '--tenant', w.source, '--kind', 'phase-changed', '--email', 'ops@contoso.com']);
    assert.equal(added.code, 0, added.stderr);
    await heldToText(['notify', 'list']);
  });
});
