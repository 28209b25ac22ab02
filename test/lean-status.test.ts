// `t2t status` reads through a lean gRPC reader (src/client/lean/) rather than the
// Temporal client: its descriptor keeps Temporal's own field numbers and types, and
// against the real dev server it gives the same status as the Temporal client for
// a running migration, a denied one, one terminated outside the product, by either
// id, and the same one-line refusal for an id no migration has.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../src/temporal-binaries';
import { Root, Type, Field } from 'protobufjs';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { RunningAzurite } from './helpers/azurite';
import { useRealServers } from './helpers/servers';
import { makeTestWorld, TestWorld } from './helpers/world';
import { startProduct, Product } from './helpers/product';
import { READ_TYPES } from '../src/client/lean/read-api';
import { WireCodec } from '../src/wire-format';
import { LeanTemporal, decodePayload, encodePayload } from '../src/client/lean/lean-temporal';
import { AesGcmPayloadCodec, KeylessPayloadCodec, PAYLOAD_TYPES } from '../src/codec/aes-gcm-codec';
import { parseKeyRing } from '../src/codec/keys';
import { leanList, leanStatus } from '../src/client/lean/lean-status';
import { leanAct } from '../src/client/lean/lean-action';
import { findRun } from '../src/client/status-reader';
import { migrationListQuery, type ListedRun } from '../src/client/status-reader';
import { migrationWorkflowId } from '../src/contracts';

// Every migration here is written encrypted, as the product writes them: the lean path reads and sends through the codec.
const keys = `k-lean-${randomBytes(2).toString('hex')}:${randomBytes(32).toString('base64')}`;
const codec = new AesGcmPayloadCodec(parseKeyRing(keys, 'test keys'));

describe('the lean status reader', () => {
  it("reads every field with Temporal's own number and type (@temporalio/proto's descriptor)", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const full = require('@temporalio/proto/protos/json-module') as Root;
    for (const [name, spec] of Object.entries(READ_TYPES)) {
      const source = full.lookupType(spec.source);
      for (const [fieldName, field] of Object.entries(spec.fields)) {
        const theirs: Field | undefined = source.fields[fieldName];
        assert.ok(theirs, `${spec.source} has no field ${fieldName}`);
        theirs.resolve();
        assert.equal(field.id, theirs.id, `${name}.${fieldName}: number`);
        assert.equal(field.rule, theirs.repeated ? 'repeated' : undefined, `${name}.${fieldName}: repeated`);
        assert.equal(field.keyType, (theirs as Field & { keyType?: string }).keyType, `${name}.${fieldName}: map key`);
        if (theirs.resolvedType instanceof Type) {
          assert.equal(READ_TYPES[field.type]?.source, theirs.resolvedType.fullName.slice(1), `${name}.${fieldName}: message type`);
        } else if (theirs.resolvedType) {
          assert.equal(field.type, 'int32', `${name}.${fieldName}: an enum is read as its number`);
        } else {
          assert.equal(field.type, theirs.type, `${name}.${fieldName}: scalar type`);
        }
      }
    }
  });

  it("its wire codec writes what @temporalio/proto reads, and reads what it writes (skipping the fields it leaves out)", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const full = require('@temporalio/proto/protos/json-module') as Root;
    const wire = new WireCodec(READ_TYPES);
    const type = (name: string) => full.lookupType(READ_TYPES[name].source);
    const payload = (json: string) => ({ metadata: { encoding: Buffer.from('json/plain'), empty: Buffer.alloc(0) }, data: Buffer.from(json) });

    const update = {
      namespace: 'default',
      workflowExecution: { workflowId: 'tenant-migration-env-é', runId: '' },
      waitPolicy: { lifecycleStage: 3 },
      request: { meta: { updateId: 'u-1', identity: '42@host' }, input: { name: 'approve', args: { payloads: [payload('{"actor":"a@b.com"}'), payload('1')] } } },
    };
    const theirs = type('UpdateWorkflowExecutionRequest');
    assert.deepEqual(theirs.toObject(theirs.decode(wire.encode('UpdateWorkflowExecutionRequest', update)), { longs: Number }), {
      ...update,
      workflowExecution: { workflowId: 'tenant-migration-env-é' }, // proto3: an empty string is not written
    });
    const list = { namespace: 'default', query: "WorkflowType = 'x'", nextPageToken: Buffer.from([0, 1, 255]) };
    const listType = type('ListWorkflowExecutionsRequest');
    assert.deepEqual(listType.toObject(listType.decode(wire.encode('ListWorkflowExecutionsRequest', list)), { longs: Number }), list);

    // A reply with fields the lean descriptor leaves out (pageSize-like scalars, fixed64, nested messages, enums) and a large int64.
    const reply = {
      executions: [
        {
          execution: { workflowId: 'w1', runId: 'r1' },
          type: { name: 'tenantMigration' },
          startTime: { seconds: 1_765_000_000_123, nanos: 999_999_999 },
          closeTime: { seconds: 1, nanos: 0 },
          status: 6,
          historyLength: 104,
          stateTransitionCount: 2 ** 40,
          memo: { fields: { environmentName: payload('"Sales"') } },
          searchAttributes: { indexedFields: { T2TPhase: payload('"Approved"'), T2TEnvironmentId: payload('"env-1"') } },
          autoResetPoints: { points: [{ binaryChecksum: 'x', runId: 'r0', firstWorkflowTaskCompletedId: 3 }] },
          executionDuration: { seconds: 5, nanos: 1 },
        },
        { execution: { workflowId: 'w2', runId: 'r2' }, status: 1 },
      ],
      nextPageToken: Buffer.from('next'),
    };
    const replyType = type('ListWorkflowExecutionsResponse');
    const bytes = replyType.encode(replyType.fromObject(reply)).finish();
    const known = (value: unknown, typeName: string): unknown => {
      // protobufjs's own decoding, narrowed to the fields the lean descriptor names
      const fields = READ_TYPES[typeName].fields;
      const out: Record<string, unknown> = {};
      for (const [name, field] of Object.entries(fields)) {
        const v = (value as Record<string, unknown>)[name];
        if (v === undefined) continue;
        const one = (x: unknown) => (READ_TYPES[field.type] ? known(x, field.type) : x);
        out[name] = field.keyType
          ? Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, one(x)]))
          : field.rule
            ? (v as unknown[]).map(one)
            : one(v);
      }
      return out;
    };
    const decoded = wire.decode('ListWorkflowExecutionsResponse', bytes);
    assert.deepEqual(JSON.parse(JSON.stringify(decoded)), JSON.parse(JSON.stringify(known(replyType.toObject(replyType.decode(bytes), { longs: Number }), 'ListWorkflowExecutionsResponse'))));
    assert.equal((decoded.executions as { startTime: { seconds: number } }[])[0].startTime.seconds, 1_765_000_000_123);
    assert.throws(() => wire.decode('ListWorkflowExecutionsResponse', bytes.subarray(0, bytes.length - 3)), /cut short/);
  });

  it("the codec's Payload message: the same bytes as @temporalio/proto's, both ways", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const full = (require('@temporalio/proto/protos/json-module') as Root).lookupType('temporal.api.common.v1.Payload');
    const lean = new WireCodec(PAYLOAD_TYPES);
    const payload = {
      metadata: { encoding: Buffer.from('json/plain'), messageType: Buffer.from('x') },
      data: Buffer.from('{"a":1}'),
      externalPayloads: [{ sizeBytes: 1234 }],
    };
    const bytes = Buffer.from(full.encode(full.fromObject(payload)).finish());
    assert.deepEqual(lean.encode('Payload', payload), bytes);
    assert.deepEqual(lean.decode('Payload', bytes), full.toObject(full.decode(bytes), { longs: Number }));
  });

  it('decodes payloads through the payload codec, then JSON and nothing else', async () => {
    const clear = new KeylessPayloadCodec();
    const meta = (encoding: string) => ({ encoding: Buffer.from(encoding) });
    assert.deepEqual(await decodePayload(clear, { metadata: meta('json/plain'), data: Buffer.from('{"phase":"Approved"}') }), { phase: 'Approved' });
    assert.equal(await decodePayload(clear, { metadata: meta('binary/null') }), undefined);
    await assert.rejects(decodePayload(clear, { metadata: meta('binary/protobuf'), data: Buffer.from('x') }), /binary\/protobuf/);
    const encrypted = await encodePayload(codec, { actor: 'admin@fabrikam.com' });
    assert.notEqual(Buffer.from(encrypted.metadata!.encoding).toString(), 'json/plain');
    assert.ok(!Buffer.from(encrypted.data!).toString().includes('fabrikam'));
    assert.deepEqual(await decodePayload(codec, encrypted), { actor: 'admin@fabrikam.com' });
    await assert.rejects(decodePayload(clear, encrypted), /encrypted .* no payload keys are configured here/);
  });

  it('leaves TLS and API-key connections to the Temporal client', () => {
    const config = { temporalAddress: 'localhost:7233', namespace: 'default', payload: {}, dataDir: '/nonexistent' } as never;
    assert.equal(LeanTemporal.open(config, { TEMPORAL_API_KEY: 'k' }), undefined);
    assert.equal(LeanTemporal.open(config, { TEMPORAL_TLS: 'true' }), undefined);
    const plain = LeanTemporal.open(config, {});
    assert.ok(plain);
    plain.close();
  });
});

describe('the lean status reader against the dev server @integration', function () {
  this.timeout(180_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;
  let w: TestWorld;
  let p: Product;

  useRealServers((servers) => ({ env, azurite } = servers));
  before(async () => {
    w = makeTestWorld({ users: 2, environments: 5 });
    p = await startProduct({ env, azurite, world: w.world, dataConverter: { payloadCodecs: [codec] } });
  });
  after(async () => {
    await p?.stop();
  });

  // The product's own config reaches Temporal through the test's client; the reader dials the dev server.
  const config = () => ({ ...p.config, temporalAddress: env.address, payload: { keys } });

  /** the migration the lean path approved */
  let approvedTargetId: string;
  /** the migration the first test submitted, waiting for approval */
  let runningId: string;

  const t2t = (node: string[], args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [...node, path.join(projectRoot(), 'dist', 'src', 'client', 'cli.js'), ...args], {
        env: { PATH: process.env.PATH ?? '', T2T_AUTH: 'off', TEMPORAL_ADDRESS: env.address, T2T_TASK_QUEUE: p.config.taskQueue, T2T_DATABASE_URL: p.config.databaseUrl, T2T_DATA_DIR: p.config.dataDir, T2T_PAYLOAD_KEYS: keys },
      }, (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }));
    });

  const same = async (migrationId: string) => {
    const lean = await leanStatus(config(), migrationId, {});
    assert.ok(lean, 'the lean reader answered');
    assert.deepEqual(lean, await p.client.status(migrationId));
    return lean;
  };

  it('a running migration, by its source and its target id', async () => {
    const submitted = await p.client.submit({ environmentId: w.environmentIds[0], targetTenantId: w.target, actor: w.sourceAdmin });
    runningId = submitted.migrationId;
    assert.equal((await same(submitted.migrationId)).phase, 'PendingApproval');
    assert.equal((await same(submitted.targetMigrationId)).migrationId, submitted.migrationId);
  });

  it('t2t status answers without loading the Temporal client, with the document the Temporal client path prints', async () => {
    const id = runningId;
    const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-lean-'));
    const preload = path.join(dir, 'list-modules.js');
    const list = path.join(dir, 'modules.json');
    writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(list)}, JSON.stringify(Object.keys(require.cache))));`);
    const lean = await t2t(['-r', preload], ['--json', 'status', '--migration-id', id]);
    assert.equal(lean.code, 0, lean.stderr);
    const loaded = JSON.parse(readFileSync(list, 'utf8')) as string[];
    assert.ok(!loaded.some((f) => f.includes('@temporalio/client')), 'status loaded the Temporal client');
    // Nor any Temporal SDK package (the contracts), zod (the configuration's schema) or protobufjs: the reader's
    // messages and the payload codec's Payload (these payloads are encrypted) are written in the wire format directly.
    const packages = new Set(loaded.flatMap((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f)?.[1] ?? []));
    assert.deepEqual([...packages], ['commander']);
    // Of the command modules, only the one that defines status.
    assert.deepEqual(loaded.filter((f) => f.includes(`${path.sep}commands${path.sep}`)).map((f) => path.basename(f)), ['migration-commands.js']);
    // --watch of a migration waiting for a person reads through the Temporal client and returns at once.
    const sdk = await t2t([], ['--json', 'status', '--watch', '--migration-id', id]);
    assert.equal(sdk.code, 0, sdk.stderr);
    assert.deepEqual(JSON.parse(lean.stdout), JSON.parse(sdk.stdout));
  });

  it('a migration that ended (denied)', async () => {
    const submitted = await p.client.submit({ environmentId: w.environmentIds[1], targetTenantId: w.target, actor: w.sourceAdmin });
    await p.client.act(submitted.targetMigrationId, 'deny', { actor: w.targetAdmin, reason: 'not this quarter' });
    const status = await same(submitted.migrationId);
    assert.equal(status.phase, 'Denied');
  });

  it('a migration terminated outside the product: Terminated, how, by whom, when', async () => {
    const submitted = await p.client.submit({ environmentId: w.environmentIds[2], targetTenantId: w.target, actor: w.sourceAdmin });
    await env.client.workflow.getHandle(migrationWorkflowId(w.environmentIds[2])).terminate('an operator cleaning up');
    const status = await same(submitted.migrationId);
    assert.equal(status.phase, 'Terminated');
    assert.equal(status.closed?.reason, 'an operator cleaning up');
    assert.equal(status.closed?.whilePhase, 'PendingApproval');
  });

  it("the requests list: the same runs, phases, ids and memo as the Temporal client's", async () => {
    const filter = { sourceTenantIds: [w.source] };
    const seen = (runs: ListedRun[]) =>
      runs
        .map((r) => ({ ...r, keyword: undefined, phase: r.keyword('T2TPhase'), id: r.keyword('T2TSourceMigrationId'), target: r.keyword('T2TTargetMigrationId') }))
        .sort((a, b) => a.workflowId.localeCompare(b.workflowId));
    const lean = await leanList(config(), migrationListQuery(filter)!, {});
    assert.ok(lean, 'the lean reader answered');
    const sdk = await p.client.listRuns(filter);
    assert.equal(lean.length, 3); // the three migrations submitted so far
    assert.deepEqual(seen(lean), seen(sdk));
    assert.deepEqual(seen(lean).map((r) => r.phase).sort(), ['Denied', 'PendingApproval', 'PendingApproval']);
    assert.ok(seen(lean).every((r) => r.memo?.environmentName));
  });

  it('approve accepted through the lean path: the entry the workflow recorded and its status', async () => {
    const submitted = await p.client.submit({ environmentId: w.environmentIds[3], targetTenantId: w.target, actor: w.sourceAdmin });
    approvedTargetId = submitted.targetMigrationId;
    const result = await leanAct(config(), submitted.targetMigrationId, 'approve', { actor: w.targetAdmin }, {});
    assert.ok('outcome' in result, 'the lean path settled the action');
    assert.equal(result.outcome.entry.outcome, 'accepted');
    assert.equal(result.outcome.entry.action, 'approve');
    assert.deepEqual(result.outcome.status, await p.client.status(submitted.migrationId).then(({ reversedBy: _r, closed: _c, ...s }) => s));
    assert.equal(result.outcome.status.audit.filter((e) => e.requestId === result.outcome.entry.requestId).length, 1);
  });

  it("an approve the validator rejects: handed to the Temporal client's path with its id, which records the refusal; the CLI says the same line", async () => {
    const approved = { targetMigrationId: approvedTargetId };
    const result = await leanAct(config(), approved.targetMigrationId, 'approve', { actor: w.targetAdmin }, {});
    assert.ok(!('outcome' in result) && result.requestId, 'the lean path leaves a rejected Update to the Temporal client');
    const sdk = await p.client.act(approved.targetMigrationId, 'approve', { actor: w.targetAdmin, requestId: result.requestId });
    assert.equal(sdk.entry.outcome, 'refused');
    assert.equal(sdk.entry.requestId, result.requestId);
    const cli = await t2t([], ['--as', w.targetAdmin, 'approve', '--migration-id', approved.targetMigrationId]);
    assert.equal(cli.code, 1);
    assert.equal(cli.stderr.trim(), `t2t: ${sdk.entry.reason}`);
  });

  it('an Update sent again with the same id (after a timeout) is answered from its record, not run twice', async () => {
    const submitted = await p.client.submit({ environmentId: w.environmentIds[4], targetTenantId: w.target, actor: w.sourceAdmin });
    const reader = LeanTemporal.open(config(), {})!;
    try {
      const run = await findRun(reader, submitted.targetMigrationId);
      const requestId = '5a1d7c3e-0000-4000-8000-00000000abcd';
      const payload = { actor: w.targetAdmin, requestId };
      const first = await reader.update(run, 'approve', payload, requestId, 60_000);
      const again = await reader.update(run, 'approve', payload, requestId, 60_000);
      assert.ok('value' in first);
      assert.deepEqual(again, first);
      // and the Temporal client's send of the same id gets the same answer
      const viaClient = await p.client.act(submitted.targetMigrationId, 'approve', payload);
      assert.deepEqual(viaClient.entry, (first as { value: unknown }).value);
      const status = await p.client.status(submitted.migrationId);
      assert.equal(status.audit.filter((e) => e.requestId === requestId).length, 1);
    } finally {
      reader.close();
    }
  });

  it('an id no migration has: the same one line', async () => {
    const unknown = '00000000-0000-4000-8000-000000000000';
    await assert.rejects(leanStatus(config(), unknown, {}), { message: `no migration has the id '${unknown}'` });
    await assert.rejects(p.client.status(unknown), { message: `no migration has the id '${unknown}'` });
  });
});
