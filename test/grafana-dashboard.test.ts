// deploy/grafana/t2t-dashboard.json: a dashboard Grafana imports, whose every
// query names a metric the workers really export — ours (created in src/) or
// the SDK's (named in the SDK core this project installs, with the `temporal_`
// prefix the runtime adds).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../src/temporal-binaries';

const ROOT = projectRoot();

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { expr: string; refId: string }[];
  datasource?: { type: string; uid: string };
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    return statSync(file).isDirectory() ? sourceFiles(file) : file.endsWith('.ts') ? [file] : [];
  });
}

/** The t2t_ metrics the product creates (a counter or gauge named by a string literal in src/). */
function productMetrics(): Set<string> {
  const names = new Set<string>();
  for (const file of sourceFiles(path.join(ROOT, 'src'))) {
    const text = readFileSync(file, 'utf8');
    if (!/create(Counter|Gauge|Histogram)\(/.test(text)) continue;
    for (const match of text.matchAll(/'(t2t_[a-z_]+)'/g)) names.add(match[1]);
  }
  return names;
}

/** Whether the SDK core this project runs names the metric (its names carry no prefix, and histograms get _bucket/_sum/_count). */
function sdkNames(metric: string): boolean {
  const platform = `${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-${process.platform === 'darwin' ? 'apple-darwin' : 'unknown-linux-gnu'}`;
  const core = readFileSync(require.resolve(`@temporalio/core-bridge/releases/${platform}/index.node`));
  const bare = metric.replace(/^temporal_/, '').replace(/_(bucket|sum|count)$/, '');
  return core.includes(Buffer.from(bare));
}

describe('Grafana dashboard (deploy/grafana)', () => {
  const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'deploy', 'grafana', 't2t-dashboard.json'), 'utf8')) as {
    uid: string;
    title: string;
    panels: Panel[];
    __inputs: { name: string; type: string; pluginId: string }[];
  };
  const panels = dashboard.panels.filter((p) => p.type !== 'row');

  it('imports into Grafana: a uid, a Prometheus data source input, panels with unique ids on a 24-column grid without overlaps', () => {
    assert.equal(dashboard.uid, 't2t-migrations');
    assert.deepEqual(dashboard.__inputs.map((i) => [i.name, i.type, i.pluginId]), [['DS_PROMETHEUS', 'datasource', 'prometheus']]);
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title} fits in 24 columns`);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x += 1) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y += 1) {
          assert.ok(!cells.has(`${x},${y}`), `${p.title} overlaps another panel at ${x},${y}`);
          cells.add(`${x},${y}`);
        }
      }
    }
    for (const p of panels) {
      assert.equal(p.datasource?.uid, '${DS_PROMETHEUS}', `${p.title} uses the imported data source`);
      assert.ok((p.targets ?? []).length > 0, `${p.title} has a query`);
    }
  });

  it('shows the phases, the stalls, the activity failures, reminders and notifications', () => {
    const queries = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');
    for (const metric of ['t2t_migrations_in_phase', 't2t_migrations_stalled', 'temporal_activity_execution_failed', 't2t_reminders_sent', 't2t_escalations_sent', 't2t_notifications_failed']) {
      assert.match(queries, new RegExp(`\\b${metric}\\b`), metric);
    }
  });

  it('queries only metrics the workers export', () => {
    const ours = productMetrics();
    assert.ok(ours.has('t2t_migrations_stalled'), 'the product metrics are found in src/');
    assert.ok(!sdkNames('temporal_no_such_metric_anywhere'), 'the SDK check can fail');
    for (const p of panels) {
      for (const target of p.targets ?? []) {
        for (const [metric] of target.expr.matchAll(/\b(t2t|temporal)_[a-z_]+\b/g)) {
          if (metric.startsWith('t2t_')) assert.ok(ours.has(metric), `${p.title}: ${metric} is not created anywhere in src/`);
          else assert.ok(sdkNames(metric), `${p.title}: ${metric} is not a metric of the SDK this project installs`);
        }
      }
    }
  });
});
