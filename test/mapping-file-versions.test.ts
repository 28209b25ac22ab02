// The mapping file in the container can be replaced at any time while its SAS
// is valid. Validation and re-mapping are run here as the worker runs them (the
// real activities, a real control-plane file, Azurite) to show which version of
// the file each one reads, and what a clean round leaves in the container.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { DefaultLogger } from '@temporalio/worker';
import { startTestAzurite, RunningAzurite } from './helpers/azurite';
import { makeTestWorld, TestWorld } from './helpers/world';
import { uploadWithSas } from './helpers/product';
import { createControlPlane } from '../src/controlplane/database';
import { parseWorld } from '../src/controlplane/world';
import type { ControlPlane } from '../src/controlplane/control-plane';
import { MigrationStorage, BlobChangedError, MAPPING_BLOB_NAME, containerNameFor } from '../src/storage/migration-storage';
import { createActivities } from '../src/activities';
import { SimulatedMigrationService } from '../src/service/simulated';
import { remapUsers } from '../src/service/simulated-migrate';
import type { ValidationInfo } from '../src/contracts';
import { ContainerClient } from '@azure/storage-blob';
import { parseErrorReport } from '../src/mapping/report';
import { INVALID_FILE } from '../src/mapping/messages';

/** The expected refusal would otherwise be logged as a warning in the test output. */
const activityEnvironment = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

describe('which version of the mapping file is read @integration', function () {
  this.timeout(60_000);
  let azurite: RunningAzurite;
  let dir: string;
  let controlPlane: ControlPlane;
  let storage: MigrationStorage;
  let w: TestWorld;
  let activities: ReturnType<typeof createActivities>;
  let service: SimulatedMigrationService;
  let round = 0;

  before(async () => {
    azurite = await startTestAzurite();
    dir = mkdtempSync(path.join(os.tmpdir(), 't2t-versions-'));
    w = makeTestWorld({ users: 4, unmappedUsers: 0 });
    controlPlane = await createControlPlane(path.join(dir, 'cp.sqlite'));
    await controlPlane.migrateSchema();
    await controlPlane.loadWorld(parseWorld(w.world));
    storage = new MigrationStorage(azurite.connectionString);
    service = new SimulatedMigrationService({ controlPlane, storage, sasValidityMs: 3_600_000, remapBatchSize: 200 });
    const auditLog = { append: async () => undefined, list: async () => [], spendSignedStart: async () => undefined, close: async () => undefined };
    activities = createActivities({ service, auditLog, signIn: { auth: 'off', gatewayUrl: 'http://127.0.0.1:8236' } });
  });
  after(async () => {
    await controlPlane?.close();
    await azurite?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  async function containerWith(migrationId: string, mapping: string): Promise<string> {
    const containerName = containerNameFor(migrationId);
    const access = await storage.provision(containerName, 3_600_000);
    await uploadWithSas(access.sasUrl, mapping);
    return containerName;
  }

  async function validate(migrationId: string, containerName: string) {
    round += 1;
    // A repeated provision answers with the container's access as it is.
    const access = await storage.provision(containerName, 3_600_000);
    const input = { migrationId, storage: access, sourceTenantId: w.source, targetTenantId: w.target, round };
    return activityEnvironment().run(activities.validateMapping, input) as Promise<ValidationInfo>;
  }

  /** The simulated service's re-mapping step, as its migrate runs it. */
  function remap(migrationId: string, containerName: string, mappingEtag: string | undefined) {
    const input = { migrationId, environmentId: w.environmentId, container: service.mappingContainer({ containerName }), mappingEtag, batchSize: 200 };
    return remapUsers(controlPlane, input, { heartbeat: () => undefined, signal: new AbortController().signal });
  }

  it('a clean round writes no error report; a failing round writes one behind its link', async () => {
    const containerName = await containerWith('00000000-0000-4000-8000-00000000c1ea', w.mappingCsv);
    const clean = await validate('00000000-0000-4000-8000-00000000c1ea', containerName);
    assert.equal(clean.errors, 0);
    assert.equal(clean.errorReportUrl, undefined);
    assert.ok(clean.mappingEtag, 'the round names the version it read');
    assert.deepEqual(await storage.blobNames(containerName), [MAPPING_BLOB_NAME]);

    await uploadWithSas(storage.containerSasUrl(containerName), `${w.mappingCsv}not-an-email,${w.targetUpn(1)}\n`);
    const failing = await validate('00000000-0000-4000-8000-00000000c1ea', containerName);
    assert.ok(failing.errors > 0);
    assert.notEqual(failing.mappingEtag, clean.mappingEtag);
    assert.deepEqual(await storage.blobNames(containerName), [MAPPING_BLOB_NAME, `validation/round-${round}-errors.csv`]);
  });

  it('a file named in the wrong letter case is refused under the name the admin used', async () => {
    const containerName = containerNameFor('00000000-0000-4000-8000-0000000ca5e1');
    const access = await storage.provision(containerName, 3_600_000);
    await uploadWithSas(access.sasUrl, w.mappingCsv, 'UserMapping.csv');
    const result = await validate('00000000-0000-4000-8000-0000000ca5e1', containerName);
    assert.equal(result.errors, 1);
    const report = await (await fetch(result.errorReportUrl!)).text();
    assert.match(report, /UserMapping\.csv/);
  });

  it('an image uploaded as usermapping.csv: one report row, on line 0, naming the first byte that is not text', async () => {
    const migrationId = '00000000-0000-4000-8000-00000000b1a7';
    const containerName = containerNameFor(migrationId);
    const access = await storage.provision(containerName, 3_600_000);
    const png = Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), Buffer.alloc(200_000, 0x5a)]);
    await new ContainerClient(access.sasUrl).getBlockBlobClient(MAPPING_BLOB_NAME).uploadData(png);
    const result = await validate(migrationId, containerName);
    assert.equal(result.errors, 1);
    assert.equal(result.rows, 0);
    const report = parseErrorReport(await (await fetch(result.errorReportUrl!)).text());
    assert.deepEqual(report, [{ line: 0, source: '', destination: '', error: `${INVALID_FILE} (not a CSV file: binary content at byte 0)` }]);
  });

  it('a version read by its ETag is not mixed with a newer upload', async () => {
    const containerName = await containerWith('00000000-0000-4000-8000-0000000e7a61', w.mappingCsv);
    const first = await storage.openVersion(containerName, MAPPING_BLOB_NAME);
    assert.ok(first);
    first.body.resume();
    assert.ok(await storage.openVersion(containerName, MAPPING_BLOB_NAME, first.etag), 'the same version reads again');
    await uploadWithSas(storage.containerSasUrl(containerName), `${w.mappingCsv}${w.sourceUpn(1)},${w.targetUpn(2)}\n`);
    await assert.rejects(storage.openVersion(containerName, MAPPING_BLOB_NAME, first.etag), BlobChangedError);
    assert.equal(await storage.openVersion(containerName, 'no-such.csv'), undefined);
  });

  it('re-mapping refuses a file replaced after it passed validation, and re-maps nobody', async () => {
    const migrationId = '00000000-0000-4000-8000-0000000a11ce';
    const containerName = await containerWith(migrationId, w.mappingCsv);
    const validated = await validate(migrationId, containerName);
    assert.equal(validated.errors, 0);
    // an upload after validation, e.g. with mappings that were never checked
    await uploadWithSas(storage.containerSasUrl(containerName), `${w.sourceUpn(1)},${w.targetUpn(2)}\n${w.sourceUpn(2)},${w.targetUpn(1)}\n`);
    await assert.rejects(remap(migrationId, containerName, validated.mappingEtag), (err: unknown) => err instanceof ApplicationFailure && err.type === 'MappingChanged' && err.nonRetryable);
    assert.deepEqual(await controlPlane.listRemaps(migrationId), []);

    // validated again, the new file is the one re-mapping reads
    const revalidated = await validate(migrationId, containerName);
    const result = await remap(migrationId, containerName, revalidated.mappingEtag);
    assert.equal(result.usersRemapped, 2);
    assert.deepEqual((await controlPlane.listRemaps(migrationId)).map((r) => r.targetUpn).sort(), [w.targetUpn(1), w.targetUpn(2)]);
  });
});
