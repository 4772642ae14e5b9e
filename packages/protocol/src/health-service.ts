// The standard grpc.health.v1.Health service: Kubernetes gRPC probes and grpc_health_probe ask it
// whether a stage is ready. Statuses are kept per service name; "" stands for the whole server.
import { status, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { ServingStatus } from './messages.ts';

interface CheckRequest {
  service: string;
}
interface CheckResponse {
  status: ServingStatus;
}

export class HealthState {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<(s: ServingStatus) => void>>();

  constructor(services: readonly string[], initial: ServingStatus) {
    for (const s of services) this.statuses.set(s, initial);
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Sets one service's status (adding it if new) and tells its watchers when it changed. */
  set(service: string, next: ServingStatus): void {
    if (this.statuses.get(service) === next) return;
    this.statuses.set(service, next);
    for (const notify of this.watchers.get(service) ?? []) notify(next);
  }

  /** Every known service, e.g. to mark all NOT_SERVING on shutdown. */
  services(): string[] {
    return [...this.statuses.keys()];
  }

  private watch(service: string, notify: (s: ServingStatus) => void): () => void {
    let set = this.watchers.get(service);
    if (!set) this.watchers.set(service, (set = new Set()));
    set.add(notify);
    return () => {
      set.delete(notify);
      if (set.size === 0) this.watchers.delete(service);
    };
  }

  /** gRPC handlers for grpc.health.v1.Health. */
  implementation(): UntypedServiceImplementation {
    return {
      check: (call: ServerUnaryCall<CheckRequest, CheckResponse>, callback: sendUnaryData<CheckResponse>) => {
        const current = this.statuses.get(call.request.service);
        if (current === undefined) callback({ code: status.NOT_FOUND, details: `unknown service '${call.request.service}'` });
        else callback(null, { status: current });
      },
      watch: (call: ServerWritableStream<CheckRequest, CheckResponse>) => {
        const service = call.request.service;
        let last: ServingStatus | undefined;
        const send = (s: ServingStatus): void => {
          if (s === last || call.writableEnded || call.destroyed) return;
          last = s;
          call.write({ status: s });
        };
        const stop = this.watch(service, send);
        call.on('error', stop); // a vanished watcher must not crash the server
        call.on('cancelled', stop);
        call.on('close', stop);
        send(this.statuses.get(service) ?? 'SERVICE_UNKNOWN');
      },
    };
  }

  /**
   * Server shutdown: every watcher hears NOT_SERVING before the server cancels its stream, so a
   * probe or load balancer stops sending work at once instead of waiting for a timeout.
   */
  close(): void {
    for (const service of this.services()) this.set(service, 'NOT_SERVING');
    this.watchers.clear();
  }
}
