// The worker's defaults live in one frozen object, the usage is written from it, and the usage
// documents exactly the flags the parser takes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_MAX_SEQUENCES } from '@chatglm/runtime';
import { DOCUMENTED_FLAGS, PARSE_OPTIONS, WORKER_DEFAULTS, WORKER_USAGE, parseWorkerOptions } from '../src/worker-options.ts';

test('the usage documents every flag the parser takes, and no other', () => {
  const parsed = Object.keys(PARSE_OPTIONS).map((name) => `--${name}`);
  assert.deepEqual([...new Set(DOCUMENTED_FLAGS)].sort(), parsed.sort());
});

test('defaults come from WORKER_DEFAULTS, which is frozen and shown in the usage', () => {
  assert.ok(Object.isFrozen(WORKER_DEFAULTS));
  assert.equal(WORKER_DEFAULTS.maxSequences, DEFAULT_MAX_SEQUENCES, 'one default for the KV slots, the runtime\'s');
  const parsed = parseWorkerOptions(['--model', 'm']);
  assert.ok(parsed.kind === 'ok');
  const o = parsed.options;
  assert.deepEqual(
    [o.host, o.port, o.redisPrefix, o.maxSequences, o.activationDtype, o.lockDurationMs],
    [WORKER_DEFAULTS.host, WORKER_DEFAULTS.port, WORKER_DEFAULTS.redisPrefix, WORKER_DEFAULTS.maxSequences, WORKER_DEFAULTS.activationDtype, WORKER_DEFAULTS.lockDurationMs],
  );
  for (const shown of [`(default ${WORKER_DEFAULTS.maxSequences})`, `(default ${WORKER_DEFAULTS.lockDurationMs}, at least ${WORKER_DEFAULTS.minLockDurationMs})`, `(default ${WORKER_DEFAULTS.redisPrefix})`]) {
    assert.ok(WORKER_USAGE.includes(shown), `the usage shows ${shown}`);
  }
});

test('--redis-prefix is the Redis key prefix and --ptuning the P-tuning checkpoint; limits are enforced', () => {
  const parsed = parseWorkerOptions(['--model', 'm', '--redis-prefix', 'blue', '--ptuning', '/p']);
  assert.ok(parsed.kind === 'ok');
  assert.deepEqual([parsed.options.redisPrefix, parsed.options.ptuningDir], ['blue', '/p']);
  const short = parseWorkerOptions(['--model', 'm', '--lock-duration-ms', '999']);
  assert.deepEqual(short, { kind: 'error', message: '--lock-duration-ms must be an integer >= 1000, got "999"' });
  assert.equal(parseWorkerOptions(['--model', 'm', '--prefix', 'x']).kind, 'error', 'the old ambiguous --prefix is gone');
});
