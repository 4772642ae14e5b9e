import ort from 'onnxruntime-node';
import { GraphBuilder } from '@chatglm/glm';
const N = 8;
const ep = { executionProviders: ['webgpu'] as const };
function build(f: (g: GraphBuilder) => void) { const g = new GraphBuilder(); f(g); return g.build('p').model; }
const init = await ort.InferenceSession.create(build((g) => {
  g.input('seed', 'float32', [1]);
  const shape = g.int64s([N]);
  g.op('Expand', ['seed', shape], {}, 'cache');
  g.output('cache', 'float32', [N]);
}), { ...ep, preferredOutputLocation: { cache: 'gpu-buffer' } } as any);
const f16 = (x: number) => { const a = new Float32Array([x]); const u = new Uint32Array(a.buffer)[0]!; return ((u >>> 16) & 0x8000) | ((((u >>> 23) & 0xff) - 112) << 10) | ((u >>> 13) & 0x3ff); };
const seed = new ort.Tensor('float32', Float32Array.of(1), [1]);
const r0 = await init.run({ seed });
const T = r0.cache!;
console.log('init location', T.location, T.dims, T.type);
const upd = await ort.InferenceSession.create(build((g) => {
  g.input('cache', 'float32', [N]); g.input('idx', 'int64', [1, 1]); g.input('val', 'float32', [1]);
  g.op('ScatterND', ['cache', 'idx', 'val'], {}, 'cache_out');
  g.output('cache_out', 'float32', [N]);
}), { ...ep, preferredOutputLocation: { cache_out: 'gpu-buffer' } } as any);
const read = await ort.InferenceSession.create(build((g) => {
  g.input('x', 'float32', [N]); g.op('Identity', ['x'], {}, 'y'); g.output('y', 'float32', [N]);
}), ep as any);
try {
  const out = await upd.run({ cache: T, idx: new ort.Tensor('int64', BigInt64Array.of(3n), [1, 1]), val: new ort.Tensor('float32', Float32Array.of(5), [1]) }, { cache_out: T } as any);
  console.log('in-place run ok; same tensor?', out.cache_out === T, out.cache_out?.location);
  console.log('T read:', (await read.run({ x: T })).y!.data);
} catch (e) { console.log('in-place failed:', (e as Error).message); }
// Not in place: separate output
const out2 = await upd.run({ cache: T, idx: new ort.Tensor('int64', BigInt64Array.of(5n), [1, 1]), val: new ort.Tensor('float32', Float32Array.of(7), [1]) });
console.log('separate output read:', (await read.run({ x: out2.cache_out! })).y!.data, 'T after:', (await read.run({ x: T })).y!.data);
