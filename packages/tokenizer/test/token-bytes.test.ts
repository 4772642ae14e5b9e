import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChatGLMTokenizer, TokenizerError, cleanUpTokenizationSpaces, postProcessText } from '../src/index.ts';
import { PieceType } from '../src/sentencepiece/model-proto.ts';
import { randomInt, seededRandom } from './random.ts';
import { editPieces, testTokenizer, variantModel } from './test-models.ts';

const tokenizer = await testTokenizer();
const s = tokenizer.specialTokens;
const id = (piece: string): number => {
  const found = tokenizer.pieceToId(piece);
  assert.ok(found !== undefined, `test model lacks ${piece}`);
  return found;
};
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const concat = (parts: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const allIds = Array.from({ length: tokenizer.vocabSize }, (_, i) => i);
const normalIds = allIds.filter((i) => tokenizer.pieceType(i) === PieceType.NORMAL);

describe('tokenBytes', () => {
  it('gives a NORMAL piece with each ▁ as a space', () => {
    assert.deepEqual(tokenizer.tokenBytes(id('\u2581Hello')), new TextEncoder().encode(' Hello'));
    assert.equal(text(tokenizer.tokenBytes(id('\u2581'))), ' ');
    assert.equal(text(tokenizer.tokenBytes(id('你好'))), '你好');
    assert.deepEqual([...tokenizer.tokenBytes(id('你好'))], [0xe4, 0xbd, 0xa0, 0xe5, 0xa5, 0xbd]);
  });

  it('gives "\\n" for <n>, "\\t" for <|tab|> and k spaces for <|blank_k|>', () => {
    assert.deepEqual([...tokenizer.tokenBytes(s.newline)], [0x0a]);
    assert.deepEqual([...tokenizer.tokenBytes(s.tab)], [0x09]);
    for (const k of [2, 7, 80]) assert.equal(text(tokenizer.tokenBytes(s.blanks.get(k)!)), ' '.repeat(k), `<|blank_${k}|>`);
  });

  it('gives the single raw byte of a byte piece, even one that is not UTF-8 alone', () => {
    for (const b of [0x00, 0x41, 0x80, 0xe4, 0xff]) assert.deepEqual([...tokenizer.tokenBytes(s.bytes[b]!)], [b], tokenizer.idToPiece(s.bytes[b]!));
    // The four byte pieces of 👋 rebuild it, which their lone decodes (U+FFFD each) cannot.
    const wave = [0xf0, 0x9f, 0x91, 0x8b].map((b) => s.bytes[b]!);
    assert.equal(text(concat(wave.map((i) => tokenizer.tokenBytes(i)))), '👋');
  });

  it('gives nothing for <eop> and the other control pieces, and for <pad>', () => {
    assert.equal(tokenizer.tokenBytes(s.eop).length, 0);
    for (const i of [s.mask, s.gMask, s.sMask, s.unused0, s.sop, s.enc, s.dBlock, s.pad]) {
      assert.equal(tokenizer.tokenBytes(i).length, 0, tokenizer.idToPiece(i));
    }
  });

  it('gives <unk> the surface decode gives it (" ⁇ ")', () => {
    assert.equal(tokenizer.decode([s.unk]), ' \u2047 ');
    assert.equal(text(tokenizer.tokenBytes(s.unk)), tokenizer.decode([s.unk]));
  });

  it("follows the model's unk_surface, as SentencePiece's decode does", async () => {
    const custom = await ChatGLMTokenizer.load(variantModel((m) => ({ ...m, trainerSpec: { ...m.trainerSpec, unkSurface: '<?>' } })));
    assert.equal(custom.decode([custom.specialTokens.unk]), '<?>');
    assert.equal(text(custom.tokenBytes(custom.specialTokens.unk)), '<?>');
  });

  it('agrees with decode of the lone token for every id but byte pieces >= 0x80, up to the leading ▁', () => {
    const raw = { cleanUpTokenizationSpaces: false } as const;
    for (const i of allIds) {
      if (s.bytes.indexOf(i) >= 0x80) continue; // decode shows U+FFFD for a lone non-ASCII byte
      const own = text(tokenizer.tokenBytes(i));
      // decode drops the space of a '▁' that starts the text; tokenBytes keeps it.
      const expected = tokenizer.idToPiece(i).startsWith('\u2581') ? ` ${tokenizer.decode([i], raw)}` : tokenizer.decode([i], raw);
      assert.equal(own, expected, `${i} ${tokenizer.idToPiece(i)}`);
    }
  });

  it('decodes a text as the concatenated tokenBytes after the post-processing rules, up to the leading space', () => {
    const random = seededRandom(0x7b17e5);
    for (let round = 0; round < 300; round++) {
      const ids = Array.from({ length: 1 + randomInt(random, 40) }, () => normalIds[randomInt(random, normalIds.length)]!);
      const joined = text(concat(ids.map((i) => tokenizer.tokenBytes(i))));
      // postProcessText: pieces such as "<", "n", ">" spell a whitespace piece only together.
      let expected = cleanUpTokenizationSpaces(postProcessText(joined));
      if (tokenizer.idToPiece(ids[0]!).startsWith('\u2581')) {
        assert.ok(expected.startsWith(' '));
        expected = expected.slice(1);
      }
      assert.equal(tokenizer.decode(ids), expected, ids.map((i) => tokenizer.idToPiece(i)).join(' '));
    }
  });

  it('keeps working with <n>, tabs, blanks, bytes and control pieces mixed in', () => {
    const ids = [id('\u2581a'), s.newline, id('b'), s.tab, s.blanks.get(3)!, ...[0xe4, 0xbd, 0xa0].map((b) => s.bytes[b]!), s.eop];
    assert.equal(text(concat(ids.map((i) => tokenizer.tokenBytes(i)))), ' a\nb\t   你');
    assert.equal(tokenizer.decode(ids), 'a\nb\t   你');
  });

  it('treats UNUSED and USER_DEFINED pieces as their text, as decode does', async () => {
    const variant = await ChatGLMTokenizer.load(
      variantModel((m) =>
        editPieces(m, (ps) =>
          ps.map((p) =>
            p.piece === '\u2581hello' ? { ...p, type: PieceType.UNUSED } : p.piece === '\u2581world' ? { ...p, type: PieceType.USER_DEFINED } : p,
          ),
        ),
      ),
    );
    const raw = { cleanUpTokenizationSpaces: false } as const;
    for (const piece of ['\u2581hello', '\u2581world']) {
      const i = variant.pieceToId(piece)!;
      assert.equal(text(variant.tokenBytes(i)), piece.replace('\u2581', ' '));
      assert.equal(variant.decode([variant.pieceToId('\u2581a')!, i], raw), `a${piece.replace('\u2581', ' ')}`);
    }
  });

  it('rejects ids outside the vocabulary like decode', () => {
    for (const bad of [-1, tokenizer.vocabSize, 1.5, Number.NaN]) {
      assert.throws(() => tokenizer.tokenBytes(bad), (err: unknown) => err instanceof TokenizerError && err.code === 'tokenizer_id_out_of_range', String(bad));
      assert.throws(() => tokenizer.decode([bad]), (err: unknown) => err instanceof TokenizerError && err.code === 'tokenizer_id_out_of_range', String(bad));
    }
  });
});
