// A real Prometheus for tests (Debian's `prometheus` package): scrapes the given targets every
// second and evaluates the given rule files every second, keeping its data in a temp dir.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '@chatglm/common';

/** Why Prometheus cannot run here (for a test's skip message), or undefined when it can. */
export function prometheusMissing(): string | undefined {
  for (const tool of ['prometheus', 'promtool']) {
    if (spawnSync(tool, ['--version']).status !== 0) return `${tool} is not installed (Debian: apt-get install -y --no-install-recommends prometheus; scripts/test installs it when run as root)`;
  }
  return undefined;
}

export interface PrometheusTarget {
  /** The `instance` label (a process's name). */
  name: string;
  /** Its metrics URL, e.g. http://127.0.0.1:9100/metrics. */
  url: string;
}

/** One instant query's answer, as Prometheus' HTTP API gives it. */
export interface InstantResult {
  status: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

export class TestPrometheus {
  private constructor(
    readonly url: string,
    private readonly child: ReturnType<typeof spawn>,
    private readonly dir: string,
    /** Everything it printed, for failure messages. */
    readonly output: string[],
  ) {}

  static async start(targets: readonly PrometheusTarget[], ruleFiles: readonly string[]): Promise<TestPrometheus> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-prometheus-'));
    const scrapeConfigs = targets.map((t, i) => {
      const u = new URL(t.url);
      return `  - job_name: target-${i}\n    metrics_path: ${u.pathname}\n    static_configs:\n      - targets: ['${u.host}']\n        labels: { instance: '${t.name}' }`;
    });
    const config = [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'rule_files:',
      ...ruleFiles.map((f) => `  - ${path.resolve(f)}`),
      'scrape_configs:',
      ...scrapeConfigs,
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'prometheus.yml'), `${config}\n`);
    const port = await freePort();
    const output: string[] = [];
    const child = spawn('prometheus', [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const s of [child.stdout, child.stderr]) s?.on('data', (d: Buffer) => output.push(...d.toString().split('\n').filter(Boolean)));
    const prometheus = new TestPrometheus(`http://127.0.0.1:${port}`, child, dir, output);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${output.slice(-20).join('\n')}`);
      const ready = await fetch(`${prometheus.url}/-/ready`).then((r) => r.ok, () => false);
      if (ready) return prometheus;
      if (Date.now() > deadline) {
        await prometheus.stop();
        throw new Error(`prometheus was not ready within 30 s:\n${output.slice(-20).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async query(expr: string): Promise<InstantResult> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    return (await res.json()) as InstantResult;
  }

  async api<T>(pathname: string): Promise<T> {
    const res = await fetch(`${this.url}${pathname}`);
    if (!res.ok) throw new Error(`GET ${pathname} answered ${res.status}: ${await res.text()}`);
    return ((await res.json()) as { data: T }).data;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
