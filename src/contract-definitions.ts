// Signal, Query, Update and search-attribute definitions as the Temporal SDK
// makes them — a plain object of a kind and a name (@temporalio/workflow's
// defineSignal/defineQuery/defineUpdate, @temporalio/common's
// defineSearchAttributeKey) — made here so that loading the contracts does not
// load the SDK: every `t2t` command loads contracts.ts, and the SDK's two
// packages were a third of the contracts' load. A test holds each to the SDK's
// own function.
import type { QueryDefinition, SearchAttributeType, SignalDefinition, UpdateDefinition } from '@temporalio/common';
import type { SearchAttributeKey } from '@temporalio/common/lib/search-attributes';

export function defineSignal<Args extends unknown[] = [], Name extends string = string>(name: Name): SignalDefinition<Args, Name> {
  return { type: 'signal', name } as SignalDefinition<Args, Name>;
}

export function defineQuery<Ret, Args extends unknown[] = [], Name extends string = string>(name: Name): QueryDefinition<Ret, Args, Name> {
  return { type: 'query', name } as QueryDefinition<Ret, Args, Name>;
}

export function defineUpdate<Ret, Args extends unknown[] = [], Name extends string = string>(name: Name): UpdateDefinition<Ret, Args, Name> {
  return { type: 'update', name } as UpdateDefinition<Ret, Args, Name>;
}

/** @temporalio/common's SearchAttributeType, for the kinds the contracts use. */
export const SearchAttributeTypes = { KEYWORD: 'KEYWORD', DATETIME: 'DATETIME', BOOL: 'BOOL' } as const satisfies Record<string, SearchAttributeType>;

export function defineSearchAttributeKey<T extends SearchAttributeType>(name: string, type: T): SearchAttributeKey<T> {
  return { name, type };
}
