/**
 * A small ChatGLM-like tokenizer for tests, written from docs/model.md §3.5 and §8.3: SentencePiece-style
 * pieces with `▁` for spaces and a dropped dummy-prefix space, control pieces that decode to "",
 * byte-fallback pieces decoded as UTF-8 runs (U+FFFD for incomplete ones), the `<n>` / `<|tab|>` /
 * `<|blank_k|>` post-processing, transformers' clean_up_tokenization_spaces, and process_response.
 */

type Piece = { kind: 'text'; surface: string } | { kind: 'control' } | { kind: 'byte'; value: number };

const TEXT_PIECES = [
  '▁', '<n>', '<|tab|>', '<|blank_2|>', '<|blank_4|>', ',', '!', ':', ';', '?', '.', "'", '▁Hello', '▁world',
  'a', 'b', 'n', 't', 's', 'm', 've', 're', "n't", "'s", '<', '>', '|', 'blank', '_', '8', '0', '1', '2',
  'tab', '[[', '[', ']', ']]', '训练', '时间', '训', '练', '中', '文', '你好', '。', '▁the', '▁n', '▁\'', 'x',
];

export interface FakeTokenizer {
  readonly pieces: readonly Piece[];
  readonly eopId: number;
  readonly padId: number;
  readonly spaceId: number;
  readonly vocabSize: number;
  /** id of a text piece. */
  id(surface: string): number;
  /** id of the byte-fallback piece for `value`. */
  byteId(value: number): number;
  decode(ids: number[]): string;
}

export function createFakeTokenizer(): FakeTokenizer {
  const pieces: Piece[] = [{ kind: 'control' }, { kind: 'control' }];
  for (const surface of TEXT_PIECES) pieces.push({ kind: 'text', surface });
  const firstByte = pieces.length;
  for (let b = 0; b < 256; b++) pieces.push({ kind: 'byte', value: b });
  const bySurface = new Map<string, number>();
  pieces.forEach((p, i) => p.kind === 'text' && bySurface.set(p.surface, i));
  const utf8 = new TextDecoder('utf-8');

  return {
    pieces,
    padId: 0,
    eopId: 1,
    spaceId: bySurface.get('▁')!,
    vocabSize: pieces.length,
    id(surface) {
      const found = bySurface.get(surface);
      if (found === undefined) throw new Error(`no piece ${surface}`);
      return found;
    },
    byteId: (value) => firstByte + value,
    decode(ids) {
      let out = '';
      let bytes: number[] = [];
      let first = true;
      const flush = (): void => {
        if (bytes.length > 0) out += utf8.decode(new Uint8Array(bytes));
        bytes = [];
      };
      for (const id of ids) {
        const piece = pieces[id];
        if (piece === undefined) throw new Error(`id ${id} has no piece`);
        if (piece.kind === 'control') continue;
        if (piece.kind === 'byte') {
          bytes.push(piece.value);
          first = false;
          continue;
        }
        flush();
        // SentencePiece drops the dummy-prefix space of the first piece.
        out += first && piece.surface.startsWith('▁') ? piece.surface.slice(1) : piece.surface;
        first = false;
      }
      flush();
      // One regex does what replacing <|blank_k|> for k = 2…80 in turn does: no literal contains
      // another, and the spaces they become cannot form a new one.
      const text = out
        .replaceAll('▁', ' ')
        .replaceAll('<n>', '\n')
        .replaceAll('<|tab|>', '\t')
        .replace(BLANK, (literal, k: string) => (Number(k) >= 2 && Number(k) <= 80 ? ' '.repeat(Number(k)) : literal));
      return cleanUpTokenizationSpaces(text);
    },
  };
}

const BLANK = /<\|blank_(\d+)\|>/g;

/** transformers' PreTrainedTokenizerBase.clean_up_tokenization, replace by replace. */
function cleanUpTokenizationSpaces(text: string): string {
  return text
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

/** Python's str.strip() whitespace. */
const PY_SPACE = '[\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const STRIP = new RegExp(`^${PY_SPACE}+|${PY_SPACE}+$`, 'gu');
const PUNCTUATION = [
  [',', '，'],
  ['!', '！'],
  [':', '：'],
  [';', '；'],
  ['\\?', '？'],
].map(([ascii, full]) => ({
  after: new RegExp(`([\\u4e00-\\u9fff])${ascii}`, 'g'),
  before: new RegExp(`${ascii}([\\u4e00-\\u9fff])`, 'g'),
  full: full!,
}));

/** ChatGLM's process_response (docs/model.md §8.3). */
export function processResponse(text: string): string {
  let response = text.replace(STRIP, '').replaceAll('[[训练时间]]', '2023年');
  for (const { after, before, full } of PUNCTUATION) {
    response = response.replace(after, `$1${full}`).replace(before, `${full}$1`);
  }
  return response;
}

/** The ids of the UTF-8 bytes of `text`, as byte-fallback pieces. */
export function byteIds(tokenizer: FakeTokenizer, text: string): number[] {
  return [...new TextEncoder().encode(text)].map((b) => tokenizer.byteId(b));
}
