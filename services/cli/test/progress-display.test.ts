// The conversion's progress on a terminal (a bar redrawn in place) and in a log (a line every few seconds).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConversionSnapshot } from '@chatglm/glm';
import { PROGRESS_LINE_EVERY_MS, ProgressDisplay } from '../src/progress-display.ts';

const snapshot = (fraction: number): ConversionSnapshot => ({ fraction, at: 'layer 3 (4 of 14)', tensors: 40, bytes: 3 * 2 ** 20, elapsedSeconds: 10, bytesPerSecond: 2 ** 20, secondsLeft: 90 });

function output(isTTY: boolean): { written: string[]; write(t: string): void; isTTY: boolean } {
  const written: string[] = [];
  return { written, isTTY, write: (t: string) => void written.push(t) };
}

test('on a terminal: a bar redrawn in place, at most every 100 ms, its last state drawn and its line ended at the end', () => {
  const out = output(true);
  let now = 0;
  const display = new ProgressDisplay('stage 1 of 2', out, () => now);
  display.show(snapshot(0.1));
  now = 50;
  display.show(snapshot(0.2)); // too soon: not drawn now
  assert.equal(out.written.length, 1);
  assert.equal(out.written[0], '\rstage 1 of 2 [##......................] 10% · layer 3 (4 of 14) · 40 tensors · 3.0 MiB at 1.0 MiB/s · 1m 30s left\x1b[K');
  now = 60;
  display.show(snapshot(1));
  display.end();
  assert.match(out.written[1]!, /^\rstage 1 of 2 \[#{24}\] 100% /);
  assert.equal(out.written.at(-1), '\n');
});

test('redirected: one line at once, then one every few seconds, and the last state at the end', () => {
  const out = output(false);
  let now = 0;
  const display = new ProgressDisplay('stage 2 of 2', out, () => now);
  display.show(snapshot(0.1));
  now = PROGRESS_LINE_EVERY_MS - 1;
  display.show(snapshot(0.5));
  assert.equal(out.written.length, 1);
  now = PROGRESS_LINE_EVERY_MS + 1;
  display.show(snapshot(0.6));
  now += 10;
  display.show(snapshot(1));
  display.end();
  assert.deepEqual(out.written.map((l) => /^stage 2 of 2: (\d+)% · /.exec(l)?.[1]), ['10', '60', '100']);
  assert.ok(out.written.every((l) => l.endsWith('\n') && !l.includes('\r')));
});
