// Prometheus metrics for every process of the cluster (README, "Metrics and monitoring").
//
//   const registry = createProcessRegistry({ service: 'stage', pipeline: 'p0', stage: '14-27' });
//   const server = await MetricsServer.listen(registry, '0.0.0.0', 9100);
//   ...
//   await server.close();
export { createProcessRegistry, type ProcessLabels } from './process-registry.ts';
export { MetricsServer } from './metrics-server.ts';
export { BATCH_SIZES, HTTP_SECONDS, REQUEST_SECONDS, STEP_SECONDS } from './buckets.ts';
export { Counter, Gauge, Histogram, Registry } from 'prom-client';
