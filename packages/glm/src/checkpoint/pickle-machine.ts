// A restricted pickle interpreter for the opcodes torch.save writes (protocol 2, plus the few
// protocol-4 ones that cost nothing). It never imports or calls anything: GLOBAL only asks the
// caller's allow-list for a stand-in value, and REDUCE/BUILD/persistent ids are handed to the caller,
// who builds plain data from them. Any other opcode stops with an error naming its byte offset.

/** A Python tuple (JS arrays stand for lists). */
export class PyTuple {
  constructor(readonly items: readonly unknown[]) {}
}

/** A Python dict or OrderedDict, insertion-ordered. */
export class PyDict {
  readonly entries = new Map<unknown, unknown>();
}

export interface PickleHooks {
  /** The stand-in for `module.name`, or throws: the allow-list. */
  global(module: string, name: string, at: number): unknown;
  /** `callable(*args)` for an allowed callable. */
  reduce(callable: unknown, args: PyTuple, at: number): unknown;
  /** `obj.__setstate__(state)` or its default. */
  build(obj: unknown, state: unknown, at: number): unknown;
  /** torch.save's out-of-band references (storages). */
  persistentLoad(pid: unknown, at: number): unknown;
}

export class PickleError extends Error {
  constructor(message: string, readonly at: number) {
    super(message);
  }
}

/** Reads opcodes off the buffer with bounds checks: a short pickle is a truncated file. */
class Reader {
  pos = 0;
  private readonly view: DataView;
  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number): number {
    if (this.pos + n > this.bytes.length) throw new PickleError(`pickle ends in the middle of an opcode (truncated)`, this.pos);
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u8(): number { return this.view.getUint8(this.need(1)); }
  u16(): number { return this.view.getUint16(this.need(2), true); }
  u32(): number { return this.view.getUint32(this.need(4), true); }
  i32(): number { return this.view.getInt32(this.need(4), true); }
  u64(): number {
    const n = this.view.getBigUint64(this.need(8), true);
    if (n > BigInt(this.bytes.length)) throw new PickleError(`length ${n} exceeds the pickle`, this.pos - 8);
    return Number(n);
  }
  f64be(): number { return this.view.getFloat64(this.need(8), false); }
  slice(n: number): Uint8Array {
    const at = this.need(n);
    return this.bytes.subarray(at, at + n);
  }
  utf8(n: number): string {
    return new TextDecoder('utf-8', { fatal: true }).decode(this.slice(n));
  }
  line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) throw new PickleError(`pickle ends inside a GLOBAL name (truncated)`, this.pos);
    const s = new TextDecoder().decode(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }
}

/** Two's-complement little-endian integer of any length (LONG1/LONG4). */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i] as number);
  if ((b[b.length - 1] as number) & 0x80) n -= 1n << BigInt(8 * b.length);
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

/** Runs the pickle to its STOP and returns the result. Errors are PickleErrors carrying a byte offset. */
export function unpickle(bytes: Uint8Array, hooks: PickleHooks): unknown {
  const r = new Reader(bytes);
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();
  let at = 0;
  const pop = (): unknown => {
    if (stack.length === 0) throw new PickleError('pickle pops an empty stack', at);
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) throw new PickleError('pickle reads an empty stack', at);
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = marks.pop();
    if (!prev) throw new PickleError('pickle closes a MARK it never opened', at);
    stack = prev;
    return items;
  };
  const get = (i: number): unknown => {
    if (!memo.has(i)) throw new PickleError(`pickle reads memo slot ${i}, which was never set`, at);
    return memo.get(i);
  };
  const dict = (v: unknown): PyDict => {
    if (!(v instanceof PyDict)) throw new PickleError('SETITEM(S) on something that is not a dict', at);
    return v;
  };
  const list = (v: unknown): unknown[] => {
    if (!Array.isArray(v)) throw new PickleError('APPEND(S) on something that is not a list', at);
    return v;
  };
  const setItems = (d: PyDict, items: unknown[]) => {
    if (items.length % 2) throw new PickleError('SETITEMS with an odd number of items', at);
    for (let i = 0; i < items.length; i += 2) d.entries.set(items[i], items[i + 1]);
  };

  for (;;) {
    at = r.pos;
    const op = r.u8();
    switch (op) {
      case 0x80: r.u8(); break; // PROTO
      case 0x95: r.u64(); break; // FRAME: framing only matters to streaming readers
      case 0x2e: return pop(); // STOP
      case 0x28: marks.push(stack); stack = []; break; // MARK
      case 0x7d: stack.push(new PyDict()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push(new PyTuple([])); break; // EMPTY_TUPLE
      case 0x74: { const items = popMark(); stack.push(new PyTuple(items)); break; } // TUPLE (pop first: popMark replaces `stack`)
      case 0x85: stack.push(new PyTuple([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); stack.push(new PyTuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push(new PyTuple([a, b, c])); break; } // TUPLE3
      case 0x6c: { const items = popMark(); stack.push(items); break; } // LIST
      case 0x64: { const items = popMark(); const d = new PyDict(); setItems(d, items); stack.push(d); break; } // DICT
      case 0x61: { const v = pop(); list(top()).push(v); break; } // APPEND
      case 0x65: { const items = popMark(); const l = list(top()); for (const v of items) l.push(v); break; } // APPENDS
      case 0x73: { const v = pop(); const k = pop(); dict(top()).entries.set(k, v); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(dict(top()), items); break; } // SETITEMS
      case 0x58: stack.push(r.utf8(r.u32())); break; // BINUNICODE
      case 0x8c: stack.push(r.utf8(r.u8())); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(r.utf8(r.u64())); break; // BINUNICODE8
      case 0x4a: stack.push(r.i32()); break; // BININT
      case 0x4b: stack.push(r.u8()); break; // BININT1
      case 0x4d: stack.push(r.u16()); break; // BININT2
      case 0x8a: stack.push(decodeLong(r.slice(r.u8()))); break; // LONG1
      case 0x8b: { const n = r.i32(); if (n < 0) throw new PickleError('negative LONG4 length', at); stack.push(decodeLong(r.slice(n))); break; } // LONG4
      case 0x47: stack.push(r.f64be()); break; // BINFLOAT
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4e: stack.push(null); break; // NONE
      case 0x71: memo.set(r.u8(), top()); break; // BINPUT
      case 0x72: memo.set(r.u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: stack.push(get(r.u8())); break; // BINGET
      case 0x6a: stack.push(get(r.u32())); break; // LONG_BINGET
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x63: { const module = r.line(); const name = r.line(); stack.push(hooks.global(module, name, at)); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw new PickleError('STACK_GLOBAL without string names', at);
        stack.push(hooks.global(module, name, at));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const callable = pop();
        if (!(args instanceof PyTuple)) throw new PickleError('REDUCE without an argument tuple', at);
        stack.push(hooks.reduce(callable, args, at));
        break;
      }
      case 0x62: { const state = pop(); const obj = pop(); stack.push(hooks.build(obj, state, at)); break; } // BUILD
      case 0x51: stack.push(hooks.persistentLoad(pop(), at)); break; // BINPERSID
      default:
        throw new PickleError(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} (not something torch.save writes for a state dict)`, at);
    }
  }
}
