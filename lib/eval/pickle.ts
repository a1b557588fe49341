/**
 * A small, safe Python pickle reader: just the opcodes that InsightFace's verification `.bin` files
 * use (protocols 2-5, as written by Python 2 or 3): lists, tuples, bools, ints, strings, bytes and
 * bytearrays, and 1-D numpy uint8 arrays. It calls no code: the only "globals" it knows rebuild bytes,
 * bytearrays and numpy arrays. Anything else throws PickleFormatError.
 */

export class PickleFormatError extends Error {}

export class PyTuple {
  constructor(readonly items: unknown[]) {}
}

/** A numpy array as pickled: its dtype descriptor ('u1', ...), shape and raw bytes. */
export class NdArray {
  descr = '';
  shape: number[] = [];
  data: Uint8Array | undefined;
}

class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

class Dtype {
  constructor(readonly descr: string) {}
}

const MARK = Symbol('mark');

const knownGlobals = new Set([
  '_codecs.encode',
  'builtins.bytearray',
  '__builtin__.bytearray',
  'numpy.ndarray',
  'numpy.dtype',
  'numpy.core.multiarray._reconstruct',
  'numpy._core.multiarray._reconstruct',
  'numpy.core.numeric._frombuffer',
  'numpy._core.numeric._frombuffer',
]);

function latin1(text: unknown): Uint8Array {
  if (typeof text !== 'string') throw new PickleFormatError('latin-1 bytes from a non-string');
  return Uint8Array.from(text, (ch) => ch.charCodeAt(0) & 0xff);
}

function tupleItems(value: unknown, what: string): unknown[] {
  if (!(value instanceof PyTuple)) throw new PickleFormatError(`${what}: expected a tuple`);
  return value.items;
}

function shapeOf(value: unknown): number[] {
  const dims = tupleItems(value, 'numpy shape');
  if (!dims.every((d) => typeof d === 'number')) throw new PickleFormatError('numpy shape: not integers');
  return dims as number[];
}

function bytesOf(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  throw new PickleFormatError('expected bytes');
}

/** REDUCE: calls one of the known globals with `args`. */
function call(fn: unknown, args: unknown[]): unknown {
  if (!(fn instanceof PyGlobal)) throw new PickleFormatError('REDUCE on something that is not a known global');
  const [a, b] = args;
  switch (fn.qualified) {
    case '_codecs.encode':
      return latin1(a);
    case 'builtins.bytearray':
    case '__builtin__.bytearray':
      return args.length === 0 ? new Uint8Array(0) : typeof a === 'string' ? latin1(a) : bytesOf(a);
    case 'numpy.dtype':
      if (typeof a !== 'string') throw new PickleFormatError('numpy dtype: expected a descriptor string');
      return new Dtype(a);
    case 'numpy.core.multiarray._reconstruct':
    case 'numpy._core.multiarray._reconstruct':
      return new NdArray();
    case 'numpy.core.numeric._frombuffer':
    case 'numpy._core.numeric._frombuffer': {
      const array = new NdArray();
      array.data = bytesOf(a);
      if (!(b instanceof Dtype)) throw new PickleFormatError('numpy _frombuffer: expected a dtype');
      array.descr = b.descr;
      array.shape = shapeOf(args[2]);
      return array;
    }
    default:
      throw new PickleFormatError(`REDUCE on ${fn.qualified}`);
  }
}

/** BUILD: sets the state of a numpy array (version, shape, dtype, fortran, data); dtype state is ignored. */
function build(target: unknown, state: unknown): void {
  if (target instanceof Dtype) return;
  if (!(target instanceof NdArray)) throw new PickleFormatError('BUILD on an object that is not a numpy array');
  const [, shape, dtype, , data] = tupleItems(state, 'numpy state');
  if (!(dtype instanceof Dtype)) throw new PickleFormatError('numpy state: expected a dtype');
  target.shape = shapeOf(shape);
  target.descr = dtype.descr;
  target.data = typeof data === 'string' ? latin1(data) : bytesOf(data);
}

class Reader {
  private pos = 0;
  constructor(private readonly bytes: Buffer) {}

  get offset(): number {
    return this.pos;
  }
  get done(): boolean {
    return this.pos >= this.bytes.length;
  }
  private need(n: number): number {
    if (n > this.bytes.length - this.pos) throw new PickleFormatError(`truncated at byte ${this.pos}`);
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u8(): number {
    return this.bytes[this.need(1)];
  }
  u16(): number {
    return this.bytes.readUInt16LE(this.need(2));
  }
  u32(): number {
    return this.bytes.readUInt32LE(this.need(4));
  }
  i32(): number {
    return this.bytes.readInt32LE(this.need(4));
  }
  u64(): number {
    const n = this.bytes.readBigUInt64LE(this.need(8));
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new PickleFormatError('length too large');
    return Number(n);
  }
  take(n: number): Uint8Array {
    const at = this.need(n);
    return this.bytes.subarray(at, at + n);
  }
  line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) throw new PickleFormatError(`truncated at byte ${this.pos}`);
    const text = this.bytes.toString('latin1', this.pos, end);
    this.pos = end + 1;
    return text;
  }
  utf8(n: number): string {
    return Buffer.from(this.take(n)).toString('utf8');
  }
}

class Machine {
  readonly stack: unknown[] = [];
  readonly memo = new Map<number, unknown>();

  pop(): unknown {
    if (this.stack.length === 0) throw new PickleFormatError('stack underflow');
    const v = this.stack.pop();
    if (v === MARK) throw new PickleFormatError('unexpected MARK');
    return v;
  }
  top(): unknown {
    const v = this.stack[this.stack.length - 1];
    if (this.stack.length === 0 || v === MARK) throw new PickleFormatError('stack underflow');
    return v;
  }
  popToMark(): unknown[] {
    const at = this.stack.lastIndexOf(MARK);
    if (at < 0) throw new PickleFormatError('no MARK');
    const items = this.stack.splice(at);
    return items.slice(1);
  }
  popN(n: number): unknown[] {
    return Array.from({ length: n }, () => this.pop()).reverse();
  }
  listOnTop(): unknown[] {
    const list = this.top();
    if (!Array.isArray(list)) throw new PickleFormatError('APPEND to something that is not a list');
    return list;
  }
  global(module: string, name: string): PyGlobal {
    const g = new PyGlobal(module, name);
    if (!knownGlobals.has(g.qualified)) throw new PickleFormatError(`global ${g.qualified}`);
    return g;
  }
  get(key: number): unknown {
    if (!this.memo.has(key)) throw new PickleFormatError(`memo ${key} missing`);
    return this.memo.get(key);
  }
}

type Op = (m: Machine, r: Reader) => void;

const ops: Record<number, Op> = {
  0x80: (_m, r) => {
    const protocol = r.u8();
    if (protocol < 2 || protocol > 5) throw new PickleFormatError(`protocol ${protocol}`);
  }, // PROTO
  0x95: (_m, r) => void r.u64(), // FRAME: the frame's length; the opcodes inside are read as usual
  0x28: (m) => void m.stack.push(MARK), // MARK
  0x5d: (m) => void m.stack.push([]), // EMPTY_LIST
  0x29: (m) => void m.stack.push(new PyTuple([])), // EMPTY_TUPLE
  0x6c: (m) => void m.stack.push(m.popToMark()), // LIST
  0x61: (m) => {
    const item = m.pop();
    m.listOnTop().push(item);
  }, // APPEND
  0x65: (m) => {
    const items = m.popToMark();
    m.listOnTop().push(...items);
  }, // APPENDS
  0x74: (m) => void m.stack.push(new PyTuple(m.popToMark())), // TUPLE
  0x85: (m) => void m.stack.push(new PyTuple(m.popN(1))), // TUPLE1
  0x86: (m) => void m.stack.push(new PyTuple(m.popN(2))), // TUPLE2
  0x87: (m) => void m.stack.push(new PyTuple(m.popN(3))), // TUPLE3
  0x88: (m) => void m.stack.push(true), // NEWTRUE
  0x89: (m) => void m.stack.push(false), // NEWFALSE
  0x4e: (m) => void m.stack.push(null), // NONE
  0x4a: (m, r) => void m.stack.push(r.i32()), // BININT
  0x4b: (m, r) => void m.stack.push(r.u8()), // BININT1
  0x4d: (m, r) => void m.stack.push(r.u16()), // BININT2
  0x43: (m, r) => void m.stack.push(r.take(r.u8())), // SHORT_BINBYTES
  0x42: (m, r) => void m.stack.push(r.take(r.u32())), // BINBYTES
  0x8e: (m, r) => void m.stack.push(r.take(r.u64())), // BINBYTES8
  0x96: (m, r) => void m.stack.push(r.take(r.u64())), // BYTEARRAY8
  0x55: (m, r) => void m.stack.push(r.take(r.u8())), // SHORT_BINSTRING (Python 2 str, read as bytes)
  0x54: (m, r) => void m.stack.push(r.take(r.u32())), // BINSTRING
  0x8c: (m, r) => void m.stack.push(r.utf8(r.u8())), // SHORT_BINUNICODE
  0x58: (m, r) => void m.stack.push(r.utf8(r.u32())), // BINUNICODE
  0x8d: (m, r) => void m.stack.push(r.utf8(r.u64())), // BINUNICODE8
  0x94: (m) => void m.memo.set(m.memo.size, m.top()), // MEMOIZE
  0x71: (m, r) => void m.memo.set(r.u8(), m.top()), // BINPUT
  0x72: (m, r) => void m.memo.set(r.u32(), m.top()), // LONG_BINPUT
  0x68: (m, r) => void m.stack.push(m.get(r.u8())), // BINGET
  0x6a: (m, r) => void m.stack.push(m.get(r.u32())), // LONG_BINGET
  0x63: (m, r) => void m.stack.push(m.global(r.line(), r.line())), // GLOBAL
  0x93: (m) => {
    const [module, name] = m.popN(2);
    if (typeof module !== 'string' || typeof name !== 'string') throw new PickleFormatError('STACK_GLOBAL: expected two strings');
    m.stack.push(m.global(module, name));
  }, // STACK_GLOBAL
  0x52: (m) => {
    const args = m.pop();
    m.stack.push(call(m.pop(), tupleItems(args, 'REDUCE arguments')));
  }, // REDUCE
  0x62: (m) => {
    const state = m.pop();
    build(m.top(), state);
  }, // BUILD
};

/** The object in `bytes`; throws PickleFormatError at the first opcode or global outside the set above. */
export function unpickle(bytes: Buffer): unknown {
  const reader = new Reader(bytes);
  const machine = new Machine();
  if (bytes[0] !== 0x80) throw new PickleFormatError('no PROTO opcode (protocol 2 or newer expected)');
  while (!reader.done) {
    const at = reader.offset;
    const code = reader.u8();
    if (code === 0x2e) {
      if (machine.stack.length !== 1) throw new PickleFormatError('STOP with more than one object on the stack');
      return machine.pop(); // STOP
    }
    const op = ops[code];
    if (!op) throw new PickleFormatError(`opcode 0x${code.toString(16).padStart(2, '0')} at byte ${at}`);
    op(machine, reader);
  }
  throw new PickleFormatError('no STOP opcode');
}
