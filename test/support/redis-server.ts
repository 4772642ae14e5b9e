// A Redis for integration tests, in this order: REDIS_URL if set; a testcontainers Redis when a
// container runtime answers; else a local `redis-server` on a free port (foreground, no
// persistence, temp dir). Prints which one it uses so a reader of the test output knows.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '@chatglm/common';

export { freePort };

export interface TestRedis {
  url: string;
  /** Which kind was used, for the test output. */
  kind: 'REDIS_URL' | 'testcontainers' | 'local redis-server';
  stop(): Promise<void>;
}

export async function startTestRedis(): Promise<TestRedis> {
  if (process.env.REDIS_URL) {
    console.log(`redis: using REDIS_URL ${process.env.REDIS_URL}`);
    return { url: process.env.REDIS_URL, kind: 'REDIS_URL', stop: async () => undefined };
  }
  if (await containerRuntimeAnswers()) {
    const { RedisContainer } = await import('@testcontainers/redis');
    const container = await new RedisContainer('redis:7').start();
    console.log('redis: testcontainers (a container runtime answered)');
    return { url: container.getConnectionUrl(), kind: 'testcontainers', stop: async () => void (await container.stop()) };
  }
  const redis = await startLocalRedisServer();
  console.log(`redis: local redis-server on port ${redis.port} (no container runtime answered at ${dockerSocketDescription()})`);
  return { url: `redis://127.0.0.1:${redis.port}`, kind: 'local redis-server', stop: redis.stop };
}

function dockerSocketDescription(): string {
  return process.env.DOCKER_HOST ?? '/var/run/docker.sock';
}

/** GET /_ping on the Docker socket (or DOCKER_HOST) within 1 s. */
function containerRuntimeAnswers(): Promise<boolean> {
  const host = process.env.DOCKER_HOST;
  const socketPath = host?.startsWith('unix://') ? host.slice('unix://'.length) : host ? undefined : '/var/run/docker.sock';
  if (socketPath && !fs.existsSync(socketPath)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const url = host && !socketPath ? new URL(host.replace(/^tcp:/, 'http:')) : undefined;
    const req = http.get({ socketPath, host: url?.hostname, port: url?.port, path: '/_ping', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** Starts `redis-server` in the foreground on a free port; resolves once it accepts connections. */
export async function startLocalRedisServer(options: { port?: number; appendOnly?: boolean } = {}): Promise<{ port: number; process: ChildProcess; stop(): Promise<void> }> {
  const port = options.port ?? (await freePort());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--daemonize', 'no', '--save', '', '--dir', dir];
  if (options.appendOnly) args.push('--appendonly', 'yes');
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`redis-server did not start within 10 s:\n${out}`)), 10_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run redis-server (${err.message}); install it: apt-get install -y redis-server`));
    });
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return {
    port,
    process: child,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
