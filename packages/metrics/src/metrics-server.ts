// `GET /metrics` on a port of its own, for processes that serve no HTTP otherwise: a stage worker's
// port speaks gRPC (HTTP/2 with gRPC framing), which Prometheus cannot scrape. The same port answers
// the probes of an orchestrator: `/healthz` (the process serves) and `/readyz` (it can do its work).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export class MetricsServer {
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: http.Server,
    /** The port it listens on (the one asked for, or the one the OS chose for 0). */
    readonly port: number,
  ) {}

  /**
   * `ready` answers /readyz (default: always ready); `live` answers /healthz beyond this event loop
   * answering at all (default: it is enough): a probe that fails it restarts the process.
   */
  static async listen(registry: Registry, host: string, port: number, ready: () => boolean = () => true, live: () => Promise<boolean> = async () => true): Promise<MetricsServer> {
    const server = http.createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (req.method === 'GET' && path === '/healthz') {
        live().then(
          (ok) => res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(ok ? '{"status":"ok"}\n' : '{"status":"hung"}\n'),
          (err: unknown) => res.writeHead(503, { 'content-type': 'application/json' }).end(`${JSON.stringify({ status: 'hung', error: String(err) })}\n`),
        );
        return;
      }
      if (req.method === 'GET' && path === '/readyz') {
        const ok = ready();
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(ok ? '{"status":"ready"}\n' : '{"status":"not_ready"}\n');
        return;
      }
      if (req.method !== 'GET' || path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('GET /metrics, /healthz and /readyz are served here\n');
        return;
      }
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot collect metrics: ${String(err)}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new MetricsServer(server, (server.address() as AddressInfo).port);
  }

  /** Stops listening and ends open scrapes. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.closing;
  }
}
