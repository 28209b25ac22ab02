// The contracts make their Signal, Query, Update and search-attribute definitions
// without the Temporal SDK (src/contract-definitions.ts), so that a `t2t` command
// loads neither @temporalio/workflow nor @temporalio/common with them: each
// definition must be exactly what the SDK's own function makes of its name.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import * as workflow from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import * as contracts from '../src/contracts';
import { SearchAttributeTypes } from '../src/contract-definitions';

describe('the contracts without the Temporal SDK', () => {
  it("every Signal, Query and Update definition is the SDK's own", () => {
    const sdk: Record<string, (name: string) => unknown> = { signal: (n) => workflow.defineSignal(n), query: (n) => workflow.defineQuery(n), update: (n) => workflow.defineUpdate(n) };
    const definitions = (Object.entries(contracts) as [string, unknown][]).filter(
      (entry): entry is [string, { type: string; name: string }] => typeof entry[1] === 'object' && entry[1] !== null && ['signal', 'query', 'update'].includes((entry[1] as { type?: string }).type ?? ''),
    );
    assert.ok(definitions.length >= 20, `only ${definitions.length} definitions found`);
    for (const [exported, definition] of definitions) assert.deepEqual(definition, sdk[definition.type](definition.name), exported);
  });

  it("every search attribute key is the SDK's own, with the SDK's types", () => {
    for (const [kind, value] of Object.entries(SearchAttributeTypes)) assert.equal(value, SearchAttributeType[kind as keyof typeof SearchAttributeType]);
    for (const key of contracts.ALL_SEARCH_ATTRIBUTES) assert.deepEqual(key, defineSearchAttributeKey(key.name, key.type));
  });

  it('loading the contracts loads no Temporal SDK package', () => {
    const loaded = execFileSync(process.execPath, ['-e', `require(${JSON.stringify(path.join(__dirname, '..', 'src', 'contracts'))}); console.log(JSON.stringify(Object.keys(require.cache)))`]).toString();
    const sdk = (JSON.parse(loaded) as string[]).filter((file) => file.includes(`${path.sep}@temporalio${path.sep}`));
    assert.deepEqual(sdk, []);
  });
});
