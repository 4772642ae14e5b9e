// The launcher's restart backoff: doubling while a child keeps crashing, capped, and starting over
// once the child has run stably (before, from the 7th crash of a long life every restart waited 30 s).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BACKOFF_MAX_MS, RestartBackoff, STABLE_AFTER_MS } from '../src/up/restart-backoff.ts';

test('the first restart is immediate; a crash loop then backs off from 0.5 s, doubling, to 30 s', () => {
  const b = new RestartBackoff();
  const delays = Array.from({ length: 10 }, (_, i) => b.nextDelayMs(i * 1000));
  assert.deepEqual(delays, [0, 500, 1000, 2000, 4000, 8000, 16000, BACKOFF_MAX_MS, BACKOFF_MAX_MS, BACKOFF_MAX_MS]);
});

test('after a minute of running ready, the next crash starts over; a short run does not', () => {
  const b = new RestartBackoff();
  let now = 0;
  for (let i = 0; i < 8; i++) b.nextDelayMs((now += 1000));
  b.ready((now += 1000));
  assert.equal(b.nextDelayMs((now += 5000)), BACKOFF_MAX_MS, 'ready for 5 s is no recovery');
  b.ready((now += 1000));
  assert.equal(b.nextDelayMs((now += STABLE_AFTER_MS)), 0, 'ready for a minute: back to an immediate restart');
  assert.equal(b.nextDelayMs((now += 1000)), 500);
});
