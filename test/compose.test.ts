// docker-compose.yml is for users with a Docker engine; here we check that a
// compose tool accepts it and that it keeps its promises (scalable worker,
// loopback-only ports, every search attribute registered).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../src/temporal-binaries';
import { ALL_SEARCH_ATTRIBUTES } from '../src/contracts';

const ROOT = projectRoot();

function compose(args: string[]): string {
  try {
    return execFileSync('docker-compose', ['-f', path.join(ROOT, 'docker-compose.yml'), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error("docker-compose is not installed: install Debian's docker-compose package (.ci/run does)");
    throw new Error(`docker-compose ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

describe('docker-compose.yml', () => {
  it('is accepted by docker-compose config', () => {
    const config = compose(['config']);
    assert.match(config, /^services:/m);
  });

  it('has the services of a deployment, and a worker that can scale', () => {
    const services = compose(['config', '--services']).trim().split('\n').sort();
    assert.deepEqual(services, ['azurite', 'postgresql', 'temporal', 'temporal-schema', 'temporal-setup', 'temporal-ui', 'worker']);
    const config = compose(['config']);
    const worker = config.slice(config.indexOf('\n  worker:'));
    assert.doesNotMatch(worker, /container_name:/, 'a fixed container name would stop --scale');
    assert.doesNotMatch(worker, /\n {4}ports:/, 'a published port would stop --scale');
    assert.match(worker, /T2T_DATABASE_URL: postgres:\/\//, 'workers share the control plane on PostgreSQL');
  });

  it('publishes ports on loopback only', () => {
    const config = compose(['config']);
    const ports = config.split('\n').filter((l) => /^\s+- "?[\d.]*:?\d+:\d+/.test(l));
    assert.equal(ports.length, 3, 'Temporal, the Web UI and Azurite are published');
    for (const line of ports) assert.match(line, /- "?127\.0\.0\.1:/, `published without a loopback address: ${line.trim()}`);
  });

  it('registers every search attribute of the contract, and builds the worker the package runs', () => {
    const script = readFileSync(path.join(ROOT, 'deploy', 'register-search-attributes.sh'), 'utf8');
    for (const key of ALL_SEARCH_ATTRIBUTES) {
      assert.match(script, new RegExp(`${key.name}=${key.type === 'DATETIME' ? 'Datetime' : 'Keyword'}`));
    }
    const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.match(pkg.scripts.worker, /dist\/src\/worker\.js/);
    assert.match(dockerfile, /CMD \["node", "dist\/src\/worker\.js"\]/);
  });
});
