/**
 * A double-array trie in the unit format of darts-clone, which SentencePiece's normaliser reads
 * (`precompiled_charsmap`). We only need to *build* one for the test model's normaliser; the
 * search function mirrors darts-clone's `commonPrefixSearch` so tests can check the builder
 * without going through the WASM library.
 *
 * Unit layout (uint32, little-endian in files):
 *  - inner unit: bits 0-7 label (the byte that leads here), bit 8 "has leaf", bit 9 "offset is
 *    shifted by 8", bits 10-31 offset. Children of the unit at position p live at
 *    (p ^ offset) ^ byte; its leaf (the key ends here) lives at p ^ offset.
 *  - leaf unit: bit 31 set, bits 0-30 the value.
 * A unit whose bit 31 is set never matches a label, which is why we fill unused slots with it.
 *
 * Our builder is a plain first-fit placement, not darts-clone's DAWG-minimising one: lookups only
 * depend on the unit format, not on how the units were placed.
 */

export interface TrieEntry {
  /** Key bytes; must be non-empty and contain no 0x00 (0 is the leaf label). */
  readonly key: Uint8Array;
  /** Value stored at the key's leaf, 0 <= value < 2^31. */
  readonly value: number;
}

export interface TrieMatch {
  readonly value: number;
  /** Number of key bytes matched. */
  readonly length: number;
}

const LEAF_FLAG = 0x8000_0000;
const UNUSED_UNIT = LEAF_FLAG;
const HAS_LEAF = 1 << 8;
const EXTENDED_OFFSET = 1 << 9;
/** Bytes per block: every child of a node lies in the 256-unit block of its base. */
const BLOCK = 256;
/** darts-clone stores offsets below 2^21 directly; larger ones need their low 8 bits clear. */
const MAX_DIRECT_OFFSET = 1 << 21;

interface Node {
  children: Map<number, Node>;
  value: number | undefined;
}

export function buildDoubleArray(entries: readonly TrieEntry[]): Uint32Array {
  const root: Node = { children: new Map(), value: undefined };
  for (const { key, value } of entries) {
    if (key.length === 0) throw new Error('double-array trie: empty key');
    if (!Number.isInteger(value) || value < 0 || value >= LEAF_FLAG) {
      throw new Error(`double-array trie: value ${value} out of range`);
    }
    let node = root;
    for (const byte of key) {
      if (byte === 0) throw new Error('double-array trie: key contains a 0x00 byte');
      let child = node.children.get(byte);
      if (child === undefined) {
        child = { children: new Map(), value: undefined };
        node.children.set(byte, child);
      }
      node = child;
    }
    if (node.value !== undefined) throw new Error('double-array trie: duplicate key');
    node.value = value;
  }

  const units: number[] = [];
  const used: boolean[] = [];
  const ensure = (size: number): void => {
    while (units.length < size) {
      units.push(UNUSED_UNIT);
      used.push(false);
    }
  };
  ensure(BLOCK);
  used[0] = true; // the root
  units[0] = 0; // offset 0: an empty trie's lookups land on unused units and stop

  // Breadth-first placement; each queued node already has its own slot.
  const queue: Array<{ node: Node; pos: number; label: number }> = [{ node: root, pos: 0, label: 0 }];
  for (let head = 0; head < queue.length; head++) {
    const { node, pos, label } = queue[head]!;
    const labels = [...node.children.keys()].sort((a, b) => a - b);
    if (labels.length === 0 && node.value === undefined) continue; // only an empty trie's root
    // Slot 0 of the base always holds the leaf (or stays reserved), so that the byte 0x00 can
    // never walk into another node's child.
    const base = findBase(labels, pos, used, ensure);
    used[base] = true;
    units[base] = node.value === undefined ? UNUSED_UNIT : (LEAF_FLAG | node.value) >>> 0;
    for (const l of labels) used[base ^ l] = true;
    units[pos] = encodeInner(label, pos ^ base, node.value !== undefined);
    for (const l of labels) queue.push({ node: node.children.get(l)!, pos: base ^ l, label: l });
  }
  return Uint32Array.from(units);
}

function findBase(
  labels: readonly number[],
  pos: number,
  used: boolean[],
  ensure: (size: number) => void,
): number {
  for (let base = BLOCK; ; base++) {
    const offset = pos ^ base;
    if (offset >= MAX_DIRECT_OFFSET && offset % BLOCK !== 0) continue;
    // All of a base's slots share its block; growing to the block's end keeps every
    // `base ^ byte` read of the search inside the array.
    ensure((Math.floor(base / BLOCK) + 1) * BLOCK);
    if (used[base]) continue;
    if (labels.every((l) => !used[base ^ l])) return base;
  }
}

function encodeInner(label: number, offset: number, hasLeaf: boolean): number {
  const leafBit = hasLeaf ? HAS_LEAF : 0;
  if (offset < MAX_DIRECT_OFFSET) return ((offset << 10) | leafBit | label) >>> 0;
  return ((offset << 2) | EXTENDED_OFFSET | leafBit | label) >>> 0;
}

function unitOffset(unit: number): number {
  return (unit >>> 10) << ((unit & EXTENDED_OFFSET) >>> 6);
}

function unitLabel(unit: number): number {
  return (unit & (LEAF_FLAG | 0xff)) >>> 0;
}

/**
 * Every key that is a prefix of `input` (starting at `start`), shortest first, as darts-clone's
 * `commonPrefixSearch` reports them.
 */
export function commonPrefixSearch(units: Uint32Array, input: Uint8Array, start = 0): TrieMatch[] {
  const matches: TrieMatch[] = [];
  let pos = unitOffset(units[0] ?? 0);
  for (let i = start; i < input.length; i++) {
    const byte = input[i]!;
    pos ^= byte;
    const unit = units[pos];
    if (unit === undefined || unitLabel(unit) !== byte) break;
    pos ^= unitOffset(unit);
    if ((unit & HAS_LEAF) !== 0) {
      matches.push({ value: (units[pos] ?? 0) & 0x7fff_ffff, length: i - start + 1 });
    }
  }
  return matches;
}
