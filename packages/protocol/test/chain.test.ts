import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChainError, PROTOCOL_VERSION, validateChain, type HeadInfo, type StageInfo } from '../src/index.ts';
import { stageInfo } from './factories.ts';

const head: HeadInfo = { layerStart: 0, layerEnd: 12, numLayers: 28, modelId: 'tiny-glm-test', protocolVersion: PROTOCOL_VERSION, hiddenSize: 64, address: '127.0.0.1:5000' };

function refusal(h: HeadInfo, stages: StageInfo[]): ChainError {
  try {
    validateChain(h, stages);
  } catch (error) {
    assert.ok(error instanceof ChainError, `expected a ChainError, got ${String(error)}`);
    assert.equal(error.code, 'invalid_chain');
    return error;
  }
  assert.fail('the chain was accepted');
}

test('accepts a contiguous chain of one model ending at the last layer', () => {
  validateChain(head, [stageInfo({ layerStart: 12, layerEnd: 20, address: 'a:1' }), stageInfo({ layerStart: 20, layerEnd: 28, address: 'b:1' })]);
  validateChain({ ...head, layerEnd: 28 }, []); // one stage holding everything
  validateChain(head, [stageInfo({ layerStart: 12, activationDtype: 'ACTIVATION_DTYPE_FLOAT16' })]);
});

test('refuses a gap between layer ranges', () => {
  const e = refusal(head, [stageInfo({ layerStart: 14, layerEnd: 20, address: '127.0.0.1:5001' }), stageInfo({ layerStart: 20, layerEnd: 28, address: '127.0.0.1:5002' })]);
  assert.deepEqual(e.problems, ['stage 127.0.0.1:5001 holds layers [14, 20) but the previous stage, the head 127.0.0.1:5000, ends at layer 12: layers 12..13 are not served']);
  assert.match(e.message, /layers 12\.\.13 are not served/);
  const single = refusal(head, [stageInfo({ layerStart: 13, layerEnd: 28 })]);
  assert.match(single.message, /layer 12 is not served/);
});

test('refuses overlapping layer ranges', () => {
  const e = refusal(head, [stageInfo({ layerStart: 12, layerEnd: 20, address: 'a:1' }), stageInfo({ layerStart: 18, layerEnd: 28, address: 'b:1' })]);
  assert.deepEqual(e.problems, ['stage b:1 holds layers [18, 28) but the previous stage, stage a:1, ends at layer 20: layers 18..19 are served twice']);
  assert.match(refusal(head, [stageInfo({ layerStart: 11, layerEnd: 28 })]).message, /layer 11 is served twice/);
});

test('refuses a chain that does not end at num_layers', () => {
  const short = refusal(head, [stageInfo({ layerStart: 12, layerEnd: 26, address: 'a:1' })]);
  assert.deepEqual(short.problems, ['the chain ends at layer 26 (stage a:1) but the model has 28 layers: layers 26..27 are not served (is a stage missing downstream of stage a:1?)']);
  const alone = refusal(head, []);
  assert.match(alone.message, /the chain ends at layer 12 \(the head 127\.0\.0\.1:5000\) but the model has 28 layers: layers 12\.\.27 are not served/);
  const long = refusal(head, [stageInfo({ layerStart: 12, layerEnd: 30, numLayers: 28, address: 'a:1' })]);
  assert.match(long.message, /stage a:1 holds layers up to 30 but the model has only 28/);
});

test('refuses a protocol version, model id, hidden size or layer count mismatch', () => {
  const e = refusal(head, [stageInfo({ layerStart: 12, protocolVersion: PROTOCOL_VERSION + 1, modelId: 'other', hiddenSize: 4096, numLayers: 30, address: '10.0.0.7:7001' })]);
  assert.equal(e.problems.length, 4, e.message);
  assert.match(e.message, new RegExp(`stage 10\\.0\\.0\\.7:7001 speaks stage protocol version ${PROTOCOL_VERSION + 1} but the head 127\\.0\\.0\\.1:5000 speaks ${PROTOCOL_VERSION}`));
  assert.match(e.message, /stage 10\.0\.0\.7:7001 serves model 'other' but the head 127\.0\.0\.1:5000 serves 'tiny-glm-test'/);
  assert.match(e.message, /has hidden size 4096 but the head 127\.0\.0\.1:5000 has 64/);
  assert.match(e.message, /believes the model has 30 layers but the head 127\.0\.0\.1:5000 counts 28/);
});

test('refuses a head that does not start at 0, empty ranges and a missing dtype', () => {
  assert.match(refusal({ ...head, layerStart: 2 }, [stageInfo({ layerStart: 12 })]).message, /must start at layer 0/);
  assert.match(refusal(head, [stageInfo({ layerStart: 12, layerEnd: 12, address: 'e:1' }), stageInfo({ layerStart: 12 })]).message, /stage e:1 holds the empty layer range \[12, 12\)/);
  assert.match(refusal(head, [stageInfo({ layerStart: 12, activationDtype: 'ACTIVATION_DTYPE_UNSPECIFIED', address: '' })]).message, /stage #1 \(no address\) announces no usable activation dtype/);
});
