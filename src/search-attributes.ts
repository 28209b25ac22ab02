// Registers the custom search attributes (SPEC §7) on a Temporal namespace.
// Safe to repeat: attributes that already exist are left as they are.
import type { Connection } from '@temporalio/client';
import { ALL_SEARCH_ATTRIBUTES, SEARCH_ATTRIBUTE_TYPE_NAMES } from './contracts';
import { SearchAttributeType } from '@temporalio/common';

// temporal.api.enums.v1.IndexedValueType, as numbers: the proto package is not a dependency of ours.
const INDEXED_VALUE_TYPE: Record<string, number> = {
  [SearchAttributeType.KEYWORD]: 2,
  [SearchAttributeType.DATETIME]: 6,
  [SearchAttributeType.BOOL]: 5,
};

export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  let known = new Set<string>();
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    known = new Set(Object.keys(existing.customAttributes ?? {}));
  } catch (err) {
    // The time-skipping test server can add search attributes but not list them.
    if ((err as { code?: number }).code !== 12 /* UNIMPLEMENTED */) throw err;
  }
  const missing = ALL_SEARCH_ATTRIBUTES.filter((key) => !known.has(key.name));
  if (missing.length === 0) return;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((key) => [key.name, INDEXED_VALUE_TYPE[key.type]])),
  });
}

/** `--search-attribute Name=Type` flags for `temporal server start-dev`. */
export function devServerSearchAttributeFlags(): string[] {
  return ALL_SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=${SEARCH_ATTRIBUTE_TYPE_NAMES[key.type]}`]);
}
