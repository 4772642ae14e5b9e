// The options every part of the performance benchmark takes (`--quick`, `--quantize`, `--kv-cache`,
// `--threads`, `--json FILE`), parsed beside the part's own string options, with the quantization
// resolved as the workers' flags resolve it (the embedding and lm_head follow the linears, and so
// does the KV cache: fp16 with int8/int4).
import os from 'node:os';
import { parseArgs } from 'node:util';
import { quantizationFromFlags, type KvCacheDtype, type Quantization } from '@chatglm/glm';

/** How a benchmark's random model is quantized, every default resolved. */
export interface BenchQuantization {
  linears: Quantization;
  embedding: Quantization;
  kvCache: KvCacheDtype;
}

export interface BenchOptions<K extends string> {
  quick: boolean;
  quantization: BenchQuantization;
  threads: number;
  json: string | undefined;
  /** The part's own options, as given or their defaults. */
  own: Record<K, string>;
}

/** `defaults`: the part's own options, each a string with its default value. */
export function parseBenchOptions<K extends string>(argv: string[], defaults: Record<K, string>): BenchOptions<K> {
  const own = Object.fromEntries(Object.entries<string>(defaults).map(([name, value]) => [name, { type: 'string' as const, default: value }]));
  const { values } = parseArgs({
    args: argv,
    options: {
      ...own,
      quick: { type: 'boolean', default: false },
      quantize: { type: 'string', default: 'int4' },
      'kv-cache': { type: 'string' },
      threads: { type: 'string', default: String(os.availableParallelism()) },
      json: { type: 'string' },
    },
  });
  const q = quantizationFromFlags({ quantize: values.quantize as string, kvCache: values['kv-cache'] as string | undefined });
  return {
    quick: values.quick === true,
    quantization: { linears: q.linears ?? 'none', embedding: q.embedding ?? 'none', kvCache: q.kvCache ?? 'float32' },
    threads: Number(values.threads),
    json: values.json as string | undefined,
    own: Object.fromEntries(Object.keys(defaults).map((name) => [name, (values as Record<string, unknown>)[name] as string])) as Record<K, string>,
  };
}
