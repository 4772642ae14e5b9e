import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanUpTokenizationSpaces, postProcessText, preProcessText } from '../src/index.ts';
import { seededRandom as rng } from './random.ts';

/** The reference's literal algorithm (docs/model.md §3.4): "\n", "\t", then k spaces for k = 80..2. */
function referencePreProcess(text: string): string {
  let out = text.replaceAll('\n', '<n>').replaceAll('\t', '<|tab|>');
  for (let k = 80; k >= 2; k--) out = out.replaceAll(' '.repeat(k), `<|blank_${k}|>`);
  return out;
}

/** The reference's literal decoding post-process (docs/model.md §3.5 step 3). */
function referencePostProcess(text: string): string {
  let out = text.replaceAll('<n>', '\n').replaceAll('<|tab|>', '\t');
  for (let k = 2; k <= 80; k++) out = out.replaceAll(`<|blank_${k}|>`, ' '.repeat(k));
  return out;
}

describe('preProcessText', () => {
  it('turns every newline into <n>', () => {
    assert.equal(preProcessText('a\nb\n\nc\n'), 'a<n>b<n><n>c<n>');
  });

  it('turns every tab into <|tab|>', () => {
    assert.equal(preProcessText('\ta\t\tb'), '<|tab|>a<|tab|><|tab|>b');
  });

  it('keeps single spaces', () => {
    assert.equal(preProcessText(' a b c '), ' a b c ');
  });

  it('turns a run of k = 2..80 spaces into <|blank_k|>', () => {
    for (let k = 2; k <= 80; k++) {
      assert.equal(preProcessText(`x${' '.repeat(k)}y`), `x<|blank_${k}|>y`, `run of ${k}`);
    }
  });

  it('splits a run of 80q + r spaces into q × blank_80 then blank_r, or a single space for r = 1', () => {
    const b80 = '<|blank_80|>';
    assert.equal(preProcessText(' '.repeat(81)), `${b80} `);
    assert.equal(preProcessText(' '.repeat(82)), `${b80}<|blank_2|>`);
    assert.equal(preProcessText(' '.repeat(160)), b80 + b80);
    assert.equal(preProcessText(' '.repeat(161)), `${b80}${b80} `);
    assert.equal(preProcessText(' '.repeat(250)), `${b80}${b80}${b80}<|blank_10|>`);
  });

  it('handles spec vector 3', () => {
    assert.equal(
      preProcessText("def main():\n    print('hello world')\t# greeting"),
      "def main():<n><|blank_4|>print('hello world')<|tab|># greeting",
    );
  });

  it('equals the reference algorithm on random whitespace-heavy text', () => {
    const next = rng(42);
    // Long space chunks make runs past 80 common.
    const alphabet = [' ', ' ', ' '.repeat(37), ' '.repeat(80), '\n', '\t', 'a', '你'];
    for (let n = 0; n < 300; n++) {
      let text = '';
      const len = Math.floor(next() * 60);
      for (let i = 0; i < len; i++) text += alphabet[Math.floor(next() * alphabet.length)];
      assert.equal(preProcessText(text), referencePreProcess(text), JSON.stringify(text));
    }
  });
});

describe('postProcessText', () => {
  it('turns <n> into a newline and <|tab|> into a tab', () => {
    assert.equal(postProcessText('a<n>b<|tab|>c<n><n>'), 'a\nb\tc\n\n');
  });

  it('turns <|blank_k|> into k spaces for every k = 2..80', () => {
    for (let k = 2; k <= 80; k++) {
      assert.equal(postProcessText(`x<|blank_${k}|>y`), `x${' '.repeat(k)}y`, `blank_${k}`);
    }
  });

  it('leaves names that are not pieces alone', () => {
    for (const text of ['<|blank_1|>', '<|blank_81|>', '<|blank_02|>', '<|blank_|>', '<N>', '<|TAB|>', '<n', 'n>']) {
      assert.equal(postProcessText(text), text);
    }
  });

  it('inverts preProcessText', () => {
    const text = "def f():\n\treturn  1   +    2\n" + ' '.repeat(170) + 'end';
    assert.equal(postProcessText(preProcessText(text)), text);
  });

  it('equals the reference sequential replacement on random piece soup', () => {
    const next = rng(7);
    const parts = ['<n>', '<|tab|>', '<|blank_2|>', '<|blank_80|>', '<|blank_81|>', '<|blank_1|>', '<|blank_', '|>', '<', 'n', '>', '8', '0', 'x'];
    for (let n = 0; n < 300; n++) {
      let text = '';
      const len = Math.floor(next() * 40);
      for (let i = 0; i < len; i++) text += parts[Math.floor(next() * parts.length)];
      assert.equal(postProcessText(text), referencePostProcess(text), JSON.stringify(text));
    }
  });
});

describe('cleanUpTokenizationSpaces', () => {
  it('removes the space before . ? ! ,', () => {
    assert.equal(cleanUpTokenizationSpaces('Hi , you ! Ok ? Yes .'), 'Hi, you! Ok? Yes.');
  });

  it("joins contractions n't 'm 's 've 're and ' ", () => {
    assert.equal(
      cleanUpTokenizationSpaces("I don 't , I 'm , it 's , we 've , they 're , a ' b , do n't"),
      "I don 't, I'm, it's, we've, they're, a'b, don't",
    );
  });

  it('applies each rule once, in transformers order', () => {
    // " ' " runs before " 's": the other order would give "x ''s".
    assert.equal(cleanUpTokenizationSpaces("x ' 's"), "x''s");
    // A single left-to-right pass per rule, as str.replace does: "  ." keeps one space.
    assert.equal(cleanUpTokenizationSpaces('a  .'), 'a .');
  });

  it('leaves other spacing and CJK text alone', () => {
    for (const text of ['a  b', '. x', '你好 ，', 'x- y', "rock 'n roll"]) {
      assert.equal(cleanUpTokenizationSpaces(text), text);
    }
  });
});
