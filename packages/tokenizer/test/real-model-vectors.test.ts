/**
 * Spec §3.6 test vectors against THUDM's real `ice_text.model` (2,706,249 bytes, 130,344 pieces).
 * The model's license forbids committing it, so these run only when CHATGLM_TOKENIZER points at a
 * copy: `CHATGLM_TOKENIZER=/path/to/ice_text.model node --import tsx --test ...`.
 */
import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ChatGLMTokenizer, processResponse } from '../src/index.ts';
import { PieceType } from '../src/sentencepiece/model-proto.ts';

const modelPath = process.env['CHATGLM_TOKENIZER'];
const SKIP_REASON = 'CHATGLM_TOKENIZER is not set to a real ice_text.model; docs/model.md §3.6 vectors not checked';
const tokenizer = modelPath ? await ChatGLMTokenizer.load(modelPath) : undefined;

/** Runs `body` with the real tokenizer, or marks the test skipped and says why. */
function withRealModel(body: (tokenizer: ChatGLMTokenizer) => void): (t: TestContext) => void {
  return (t) => {
    if (tokenizer === undefined) {
      t.skip(SKIP_REASON);
      return;
    }
    body(tokenizer);
  };
}

const VECTORS: ReadonlyArray<readonly [string, readonly number[]]> = [
  ['你好', [5, 74874, 130001, 130004]],
  [
    '[Round 0]\n问：你好\n答：你好👋！我是人工智能助手 ChatGLM-6B，很高兴见到你，欢迎问我任何问题。\n[Round 1]\n问：晚上睡不着应该怎么办\n答：',
    [
      53, 6945, 5, 8, 42, 4, 64286, 12, 74874, 4, 67342, 12, 74874, 130328, 130247, 130233, 130227, 35, 65806, 68241,
      75890, 14132, 5388, 340, 11, 21, 222, 6, 76693, 66877, 63852, 6, 66430, 68747, 102501, 63823, 4, 52, 6945, 5, 9,
      42, 4, 64286, 12, 65450, 83400, 64213, 66846, 4, 67342, 12, 130001, 130004,
    ],
  ],
  [
    "def main():\n    print('hello world')\t# greeting",
    [1616, 594, 125936, 4, 130011, 2274, 89, 7283, 398, 125686, 130008, 61, 25672, 130001, 130004],
  ],
];

/** icetk README vectors with its 20,000 image-token offset removed; no [gMASK] <sop> suffix. */
const ICETK_VECTORS: ReadonlyArray<readonly [string, readonly number[]]> = [
  ['Hello World! I am icetk.', [19316, 932, 35, 115, 344, 2881, 15955, 7]],
  ['你好世界！这里是 icetk。', [5, 74874, 64097, 35, 74947, 2881, 15955, 63823]],
];

describe(`real ChatGLM-6B tokenizer (${modelPath ?? 'CHATGLM_TOKENIZER unset'})`, () => {
  it('has 130,344 pieces and the special ids of docs/model.md §3.2', withRealModel((tk) => {
    const s = tk.specialTokens;
    assert.equal(tk.vocabSize, 130344);
    assert.deepEqual(
      [s.unk, s.pad, s.newline, s.dummyPrefix, s.mask, s.gMask, s.sMask, s.unused0, s.sop, s.eop, s.enc, s.dBlock, s.tab],
      [0, 3, 4, 5, 130000, 130001, 130002, 130003, 130004, 130005, 130006, 130007, 130008],
    );
    assert.equal(s.blanks.get(2), 130009);
    assert.equal(s.blanks.get(80), 130087);
    assert.equal(s.bytes[0], 130088);
    assert.equal(s.bytes[255], 130343);
    for (const id of [s.mask, s.gMask, s.sop, s.eop]) assert.equal(tk.pieceType(id), PieceType.CONTROL, tk.idToPiece(id));
  }));

  VECTORS.forEach(([text, ids], i) => {
    it(`encodes docs/model.md §3.6 vector ${i + 1}`, withRealModel((tk) => {
      assert.deepEqual(tk.encode(text), ids);
    }));
    it(`decodes docs/model.md §3.6 vector ${i + 1} back to its text (with chatglm.cpp's punctuation restore)`, withRealModel((tk) => {
      assert.equal(processResponse(tk.decode(ids, { cleanUpTokenizationSpaces: false })), text);
    }));
  });

  ICETK_VECTORS.forEach(([text, ids]) => {
    it(`encodes the icetk vector ${JSON.stringify(text)}`, withRealModel((tk) => {
      assert.deepEqual(tk.encodeWithoutSpecialTokens(text), ids);
    }));
  });
});
