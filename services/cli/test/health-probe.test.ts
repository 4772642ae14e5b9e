// The launcher's health probe: a child that stops answering its /healthz (here: answers 503 once told
// to, as a worker whose runtime thread hangs does; a frozen process answers nothing, which fails the
// same way) is killed after three failed probes in a row and restarted like a crashed one; a
// healthy child is left alone.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { SupervisedProcess } from '../src/up/supervised-process.ts';
import { freePort } from '../../../test/support/redis-server.ts';

// A child that serves /healthz: 200 until the marker file exists, then 503.
const CHILD = `
const http = require('node:http');
const fs = require('node:fs');
const port = Number(process.env.PORT);
http.createServer((req, res) => res.writeHead(fs.existsSync(process.env.MARKER) ? 503 : 200).end()).listen(port, '127.0.0.1', () => {
  console.log('CHATGLM_READY ' + JSON.stringify({ pid: process.pid, port }));
});
`;

test('a child failing three health probes in a row is killed and restarted; a healthy one is left alone', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'health-probe-'));
  const marker = path.join(dir, 'hung');
  const port = await freePort();
  const events: string[] = [];
  const proc = new SupervisedProcess(
    { name: 'child', command: process.execPath, args: () => ['-e', CHILD], env: { PORT: String(port), MARKER: marker }, healthUrl: () => `http://127.0.0.1:${port}/healthz` },
    () => undefined,
    (m) => events.push(m),
  );
  try {
    const first = await proc.start();
    await new Promise((r) => setTimeout(r, 3500));
    assert.equal(proc.pid, first.pid, `a healthy child is not touched: ${events.join('; ')}`);
    fs.writeFileSync(marker, '');
    const deadline = Date.now() + 15_000;
    while (!events.some((e) => e.includes('failed 3 health checks')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(events.some((e) => e.includes('failed 3 health checks')), events.join('; '));
    fs.rmSync(marker);
    const again = await waitForNewRun(proc, first.pid);
    assert.notEqual(again, first.pid, 'restarted as a new process');
  } finally {
    await proc.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

async function waitForNewRun(proc: SupervisedProcess, oldPid: number): Promise<number> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ready = proc.ready;
    if (ready && ready.pid !== oldPid) return ready.pid;
    if (Date.now() > deadline) throw new Error('the child was not restarted');
    await new Promise((r) => setTimeout(r, 100));
  }
}
