// The real `helm` for the chart's tests: the project's copy in .tools/bin (scripts/test builds it
// once with `go install`), else one on PATH.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const CHART = path.join(ROOT, 'deploy', 'helm', 'chatglm-cluster');
/** The Kubernetes version `helm template` renders for (the chart needs 1.28 or later). */
export const KUBE_VERSION = '1.30.0';

function helmBinary(): string | undefined {
  const local = path.join(ROOT, '.tools', 'bin', 'helm');
  if (fs.existsSync(local)) return local;
  return spawnSync('helm', ['version', '--short']).status === 0 ? 'helm' : undefined;
}

const binary = helmBinary();

/** Why helm cannot run here (for a skip message), or undefined. */
export function helmMissing(): string | undefined {
  return binary ? undefined : 'helm is not installed (scripts/test builds it into .tools/bin with: GOBIN=$PWD/.tools/bin go install helm.sh/helm/v3/cmd/helm@v3.22.0)';
}

export function helm(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  if (!binary) throw new Error(helmMissing());
  return spawnSync(binary, args, { encoding: 'utf8', cwd: ROOT });
}

/** A Kubernetes object as helm renders it. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  [key: string]: any;
}

/** `helm template` of the chart with these extra arguments, parsed; throws with helm's message when it fails. */
export function renderChart(...args: string[]): K8sObject[] {
  const r = helm('template', 'glm', CHART, '--kube-version', KUBE_VERSION, ...args);
  if (r.status !== 0) throw new Error(`helm template failed:\n${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}
