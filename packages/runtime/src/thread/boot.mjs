// Worker-thread entry: worker threads do not inherit the parent's TypeScript loader, so register
// tsx here, then load the TypeScript module named in workerData.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
