/**
 * SentencePiece's `normalizer_spec.precompiled_charsmap` blob:
 *
 *   uint32 LE  trie size in bytes (T)
 *   T bytes    darts-clone double-array units (uint32 LE) over the UTF-8 source strings
 *   rest       pool of NUL-terminated UTF-8 replacement strings; a trie value is an offset into it
 *
 * The normaliser replaces, at each position, the longest source string found in the trie by its
 * replacement, and copies the character through when nothing matches.
 */
import { buildDoubleArray, commonPrefixSearch } from './double-array-trie.ts';

export interface CharsmapRule {
  /** Text to replace (non-empty, no NUL). */
  readonly from: string;
  /** Replacement text (no NUL; may be empty to delete `from`). */
  readonly to: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Builds the blob. Rules are stored in the given order; equal replacements share pool space. */
export function buildPrecompiledCharsmap(rules: readonly CharsmapRule[]): Uint8Array {
  if (rules.length === 0) throw new Error('precompiled charsmap: no rules (use an empty charsmap instead)');
  const poolParts: Uint8Array[] = [];
  const poolOffsets = new Map<string, number>();
  let poolSize = 0;
  const entries = rules.map(({ from, to }) => {
    if (to.includes('\0')) throw new Error(`precompiled charsmap: replacement for ${JSON.stringify(from)} contains NUL`);
    let offset = poolOffsets.get(to);
    if (offset === undefined) {
      offset = poolSize;
      const bytes = encoder.encode(`${to}\0`);
      poolParts.push(bytes);
      poolOffsets.set(to, offset);
      poolSize += bytes.length;
    }
    return { key: encoder.encode(from), value: offset };
  });
  const units = buildDoubleArray(entries);

  const trieBytes = units.length * 4;
  const blob = new Uint8Array(4 + trieBytes + poolSize);
  const view = new DataView(blob.buffer);
  view.setUint32(0, trieBytes, true);
  units.forEach((unit, i) => view.setUint32(4 + i * 4, unit, true));
  let at = 4 + trieBytes;
  for (const part of poolParts) {
    blob.set(part, at);
    at += part.length;
  }
  return blob;
}

export interface DecodedCharsmap {
  readonly units: Uint32Array;
  readonly pool: Uint8Array;
}

/** Splits a blob into its trie units and pool, with the same checks SentencePiece makes. */
export function decodePrecompiledCharsmap(blob: Uint8Array): DecodedCharsmap {
  if (blob.length <= 4) throw new Error('precompiled charsmap: blob too short');
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const trieBytes = view.getUint32(0, true);
  if (trieBytes >= blob.length || trieBytes % 4 !== 0) {
    throw new Error(`precompiled charsmap: trie size ${trieBytes} does not fit a ${blob.length}-byte blob`);
  }
  const units = new Uint32Array(trieBytes / 4);
  for (let i = 0; i < units.length; i++) units[i] = view.getUint32(4 + i * 4, true);
  return { units, pool: blob.subarray(4 + trieBytes) };
}

/**
 * The replacement the charsmap gives for the longest rule matching `text` at its start, with the
 * number of UTF-8 bytes consumed; undefined when no rule matches. Used by tests to read a
 * charsmap without the WASM library.
 */
export function lookupCharsmap(
  charsmap: DecodedCharsmap,
  text: string,
): { replacement: string; consumedBytes: number } | undefined {
  const matches = commonPrefixSearch(charsmap.units, encoder.encode(text));
  const longest = matches.at(-1); // matches come shortest first
  if (longest === undefined) return undefined;
  const end = charsmap.pool.indexOf(0, longest.value);
  if (end < 0) throw new Error('precompiled charsmap: replacement string is not NUL-terminated');
  return {
    replacement: decoder.decode(charsmap.pool.subarray(longest.value, end)),
    consumedBytes: longest.length,
  };
}
