import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildChatPrompt, processResponse } from '../src/index.ts';

/** The prompt of docs/model.md §3.6 vector 2 (a 2-message history plus a new query). */
const VECTOR_2_PROMPT =
  '[Round 0]\n问：你好\n答：你好👋！我是人工智能助手 ChatGLM-6B，很高兴见到你，欢迎问我任何问题。\n[Round 1]\n问：晚上睡不着应该怎么办\n答：';

describe('buildChatPrompt', () => {
  it('returns the raw query when there is no history', () => {
    assert.equal(buildChatPrompt([], '你好'), '你好');
    assert.equal(buildChatPrompt([], ' [Round 0]\n'), ' [Round 0]\n');
  });

  it('builds spec vector 2 from one finished turn and a new query', () => {
    const history = [['你好', '你好👋！我是人工智能助手 ChatGLM-6B，很高兴见到你，欢迎问我任何问题。']] as const;
    assert.equal(buildChatPrompt(history, '晚上睡不着应该怎么办'), VECTOR_2_PROMPT);
  });

  it('numbers rounds from 0 and ends with the open round', () => {
    const prompt = buildChatPrompt([['a', 'b'], ['c', 'd']], 'e');
    assert.equal(prompt, '[Round 0]\n问：a\n答：b\n[Round 1]\n问：c\n答：d\n[Round 2]\n问：e\n答：');
  });

  it('uses the fullwidth colon U+FF1A', () => {
    const prompt = buildChatPrompt([['q', 'r']], 'x');
    assert.ok(prompt.includes('问\uff1a') && prompt.includes('答\uff1a'));
    assert.ok(!prompt.includes(':'));
  });
});

describe('processResponse', () => {
  it('strips leading and trailing whitespace like Python str.strip()', () => {
    assert.equal(processResponse(' \n\t 你好 \u3000\r\n'), '你好');
    // Python counts U+001C..U+001F and U+0085 as whitespace, but not U+FEFF (unlike JS trim()).
    assert.equal(processResponse('\u001c\u0085x\u001f'), 'x');
    assert.equal(processResponse('\ufeffx\ufeff'), '\ufeffx\ufeff');
    assert.equal(processResponse('a  b'), 'a  b');
  });

  it('replaces every [[训练时间]] with 2023年', () => {
    assert.equal(processResponse('我的训练截止于[[训练时间]]，[[训练时间]]'), '我的训练截止于2023年，2023年');
  });

  for (const [ascii, full] of [[',', '，'], ['!', '！'], [':', '：'], [';', '；'], ['?', '？']] as const) {
    it(`turns ${ascii} into ${full} next to a CJK ideograph`, () => {
      assert.equal(processResponse(`好${ascii}`), `好${full}`, 'after CJK');
      assert.equal(processResponse(`x${ascii}好`), `x${full}好`, 'before CJK');
      assert.equal(processResponse(`a${ascii}b`), `a${ascii}b`, 'no CJK: unchanged');
      assert.equal(processResponse(`好 ${ascii} 好`), `好 ${ascii} 好`, 'space in between: unchanged');
    });
  }

  it('restores the fullwidth punctuation that NFKC folded in spec vector 2', () => {
    const folded = VECTOR_2_PROMPT.replaceAll('：', ':').replaceAll('！', '!').replaceAll('，', ',');
    assert.equal(processResponse(folded), VECTOR_2_PROMPT);
  });

  it('runs the "after CJK" pass before the "before CJK" pass, left to right without overlap', () => {
    // Pass (a) consumes 好 with the first ",", so the second "," is only caught by pass (b).
    assert.equal(processResponse('好,,好'), '好，，好');
    assert.equal(processResponse(',,好'), ',，好');
    assert.equal(processResponse('好!?好'), '好！？好');
  });

  it('only treats U+4E00..U+9FFF as CJK', () => {
    // U+3400 (extension A) and U+3002 "。" are outside the range.
    assert.equal(processResponse('\u3400,'), '\u3400,');
    assert.equal(processResponse('。,'), '。,');
    assert.equal(processResponse('\u9fff,'), '\u9fff，');
  });
});
