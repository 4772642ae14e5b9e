// One Prometheus registry per process (README, "Metrics and monitoring"): the process's own metrics and Node's
// defaults (CPU, memory, event-loop lag, start time), every series labelled with what identifies
// the process in the cluster (its service, and for workers the pipeline and stage), so that
// dashboards can group by them without relying on how Prometheus names its scrape targets.
import { Registry, collectDefaultMetrics } from 'prom-client';

/** Which process a registry belongs to; becomes labels on every series it exports. */
export interface ProcessLabels {
  /** gateway, head or stage. */
  service: string;
  /** The pipeline a worker serves (its --pipeline-id); absent on gateways. */
  pipeline?: string;
  /** A worker's layers, as "first-last" (e.g. "0-13"): which stage it is; absent on gateways. */
  stage?: string;
}

export function createProcessRegistry(labels: ProcessLabels): Registry {
  const registry = new Registry();
  const defaults: Record<string, string> = { service: labels.service };
  if (labels.pipeline !== undefined) defaults.pipeline = labels.pipeline;
  if (labels.stage !== undefined) defaults.stage = labels.stage;
  registry.setDefaultLabels(defaults);
  collectDefaultMetrics({ register: registry });
  return registry;
}
