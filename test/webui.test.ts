// The Temporal Web UI as an admin sees it, in headless Chromium (the npm build,
// test/helpers/chromium.ts; no browser download): the workflow list filtered by T2TPhase shows
// the migration with its summary, and its page shows the current details.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, Browser, Page } from 'playwright-core';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { devServer, devServerUi } from './helpers/temporal';
import { startTestAzurite, RunningAzurite } from './helpers/azurite';
import { makeTestWorld } from './helpers/world';
import { startProduct, Product } from './helpers/product';
import { projectRoot } from '../src/temporal-binaries';
import { migrationWorkflowId } from '../src/contracts';
import { chromiumBuild } from './helpers/chromium';
import { randomBytes } from 'node:crypto';
import { testingExecutable } from '../src/temporal-binaries';
import { ALL_SEARCH_ATTRIBUTES } from '../src/contracts';
import { freePort } from './helpers/ports';
import { AesGcmPayloadCodec } from '../src/codec/aes-gcm-codec';
import { parseKeyRing } from '../src/codec/keys';
import { startCodecServer, type CodecServerOptions, type RunningCodecServer } from '../src/codec/server';

const ARTIFACTS = path.join(projectRoot(), 'test-artifacts');

/** The page's text with that of its frames: the Web UI renders user markdown in sandboxed frames. */
async function pageText(page: Page): Promise<string> {
  const texts: string[] = [];
  for (const frame of page.frames()) {
    texts.push(await frame.locator('body').innerText().catch(() => ''));
  }
  return texts.join('\n');
}

async function waitForText(page: Page, text: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pageText(page)).includes(text)) {
    if (Date.now() > deadline) throw new Error(`the page never showed "${text}"`);
    await page.waitForTimeout(250);
  }
}

describe('Temporal Web UI (headless Chromium) @integration', function () {
  this.timeout(180_000);
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;
  let product: Product;
  let browser: Browser;

  before(async () => {
    const build = await chromiumBuild();
    [env, azurite] = await Promise.all([devServer(), startTestAzurite()]);
    browser = await chromium.launch({
      executablePath: build.executablePath,
      env: { ...process.env, ...build.env },
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await product?.stop();
    await azurite?.dispose();
  });

  it('lists the migration by T2TPhase with its summary, and shows its details without opening payloads', async () => {
    const w = makeTestWorld();
    product = await startProduct({ env, azurite, world: w.world });
    const submitted = await product.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
    assert.equal(submitted.phase, 'PendingApproval');
    const workflowId = migrationWorkflowId(w.environmentId);
    const ui = await devServerUi();

    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    // The list's columns, as an admin would configure them once: the summary and our search attributes.
    const columns = ['Status', 'Workflow ID', 'T2TPhase', 'T2TEnvironmentId', 'T2TTargetTenantId', 'T2TPrepareDeadline', 'Start'];
    await page.addInitScript((labels: string[]) => {
      (globalThis as unknown as { localStorage: { setItem(k: string, v: string): void } }).localStorage.setItem(
        'namespace-workflow-table-columns',
        JSON.stringify({ default: labels.map((label, i) => ({ label, pinned: i < 2 })) }),
      );
    }, columns);
    const query = encodeURIComponent(`T2TPhase="PendingApproval" AND T2TEnvironmentId="${w.environmentId}"`);
    await page.goto(`${ui}/namespaces/default/workflows?query=${query}`, { waitUntil: 'networkidle' });
    await waitForText(page, workflowId);
    await page.screenshot({ path: path.join(ARTIFACTS, 'webui-workflow-list.png'), fullPage: true });
    const listText = await page.locator('body').innerText();
    assert.ok(listText.includes(workflowId), 'the filtered list shows the migration');
    assert.match(listText, /T2TPhase[\s\S]*PendingApproval/, 'the phase column shows the phase');
    assert.ok(listText.includes(w.target), 'the target tenant column is filled');
    assert.doesNotMatch(listText, /@contoso\.com|@fabrikam\.com/, 'no email address in the list');

    const { runId } = await env.client.workflow.getHandle(workflowId).describe();
    await page.goto(`${ui}/namespaces/default/workflows/${workflowId}/${runId}/history`, { waitUntil: 'domcontentloaded' });
    // The summary and the current details are the workflow's user metadata.
    await page.getByText('User Metadata').first().click();
    await waitForText(page, 'Move Contoso Sales');
    await waitForText(page, 'PendingApproval');
    await page.screenshot({ path: path.join(ARTIFACTS, 'webui-migration.png'), fullPage: true });
    const detailText = await pageText(page);
    assert.ok(detailText.includes(`Move Contoso Sales (${w.environmentId}) from Contoso to Fabrikam`), 'the summary is shown');
    assert.ok(detailText.includes(submitted.targetMigrationId), 'the details name the target migration id');
    assert.match(detailText, /Approval deadline:\s*\d{4}-\d\d-\d\dT/, 'the current details show the deadline');
    assert.doesNotMatch(detailText, /@contoso\.com|@fabrikam\.com/, 'no email address in summary or details');
  });
});

describe('Temporal Web UI with the codec server (headless Chromium) @integration', function () {
  this.timeout(240_000);
  const codec = new AesGcmPayloadCodec(parseKeyRing(`k-ui:${randomBytes(32).toString('base64')}`, 'test keys'));
  let env: TestWorkflowEnvironment;
  let azurite: RunningAzurite;
  let product: Product | undefined;
  let browser: Browser;
  let codecServer: RunningCodecServer;
  let codecOptions: CodecServerOptions;
  let ui: string;

  before(async () => {
    const build = await chromiumBuild();
    const [uiPort, codecPort] = [await freePort(), await freePort()];
    ui = `http://127.0.0.1:${uiPort}`;
    // Read at each request, so that the test can make the same server refuse later (see below).
    codecOptions = { codec, namespace: 'default', corsOrigins: [ui, `http://localhost:${uiPort}`], port: codecPort };
    codecServer = await startCodecServer(codecOptions);
    // A dev server of its own: its Web UI is pointed at the codec server, as `npm start` points the embedded one.
    [env, azurite] = await Promise.all([
      TestWorkflowEnvironment.createLocal({
        server: {
          executable: testingExecutable('temporal'),
          ip: '127.0.0.1',
          ui: true,
          uiPort,
          searchAttributes: ALL_SEARCH_ATTRIBUTES,
          extraArgs: ['--log-level', 'error', '--ui-codec-endpoint', codecServer.url],
        },
      }),
      startTestAzurite(),
    ]);
    browser = await chromium.launch({
      executablePath: build.executablePath,
      env: { ...process.env, ...build.env },
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await product?.stop();
    await env?.teardown();
    await codecServer?.close();
    await azurite?.dispose();
  });

  it("shows a migration's input decoded through the codec server, and ciphertext once the codec server refuses", async () => {
    const w = makeTestWorld();
    product = await startProduct({ env, azurite, world: w.world, dataConverter: { payloadCodecs: [codec] } });
    const submitted = await product.client.submit({ environmentId: w.environmentId, targetTenantId: w.target, actor: w.sourceAdmin });
    const workflowId = migrationWorkflowId(w.environmentId);
    const described = await env.client.workflowService.describeWorkflowExecution({ namespace: 'default', execution: { workflowId } });
    const runId = described.workflowExecutionInfo!.execution!.runId!;
    const historyPage = `${ui}/namespaces/default/workflows/${workflowId}/${runId}/history`;

    const page = await browser.newPage({ viewport: { width: 1600, height: 1200 } });
    const codecCalls: number[] = [];
    page.on('response', (response) => {
      if (response.url().startsWith(codecServer.url)) codecCalls.push(response.status());
    });
    await page.goto(historyPage, { waitUntil: 'domcontentloaded' });
    await waitForText(page, w.sourceAdmin);
    await page.screenshot({ path: path.join(ARTIFACTS, 'webui-decoded.png'), fullPage: true });
    const decoded = await pageText(page);
    assert.ok(decoded.includes(submitted.targetMigrationId), 'the decoded input shows the target migration id');
    assert.ok(codecCalls.includes(200), `the browser called the codec server (${codecCalls.join(',')})`);

    // The codec server now asks for a token that the Web UI does not have (no sign-in configured).
    codecOptions.authToken = randomBytes(24).toString('hex');
    codecCalls.length = 0;
    const refused = await browser.newPage({ viewport: { width: 1600, height: 1200 } });
    refused.on('response', (response) => {
      if (response.url().startsWith(codecServer.url)) codecCalls.push(response.status());
    });
    await refused.goto(historyPage, { waitUntil: 'domcontentloaded' });
    // The Web UI says so and shows the payload as stored: base64 of ciphertext.
    await waitForText(refused, 'Codec Server could not connect');
    await refused.screenshot({ path: path.join(ARTIFACTS, 'webui-refused.png'), fullPage: true });
    const text = await pageText(refused);
    assert.ok(!text.includes(w.sourceAdmin) && !text.includes(submitted.targetMigrationId), 'no decoded value without the codec server');
    assert.match(text, /Input\s*"[A-Za-z0-9+/]{40,}/, 'the input is shown as the stored ciphertext');
    assert.ok(codecCalls.includes(401), `the codec server refused (${codecCalls.join(',')})`);
  });
});
