// A small typed layer over the generated ONNX protobuf classes: enough to build the GLM graphs
// (value infos, initializers inline or as external data, nodes with attributes, opset imports).
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type NodeProto = InstanceType<typeof onnx.NodeProto>;
type TensorProto = InstanceType<typeof onnx.TensorProto>;
type ValueInfoProto = InstanceType<typeof onnx.ValueInfoProto>;
type GraphProto = InstanceType<typeof onnx.GraphProto>;

export type ElementType = 'float32' | 'float16' | 'int64' | 'int32' | 'uint8' | 'int8' | 'bool';

const DATA_TYPE: Record<ElementType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  uint8: onnx.TensorProto.DataType.UINT8,
  int8: onnx.TensorProto.DataType.INT8,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** A dimension is a fixed size or a symbolic name (dynamic). */
export type Dim = number | string;

/**
 * Attribute values: integers, floats (wrapped, since JS cannot tell 1 from 1.0), strings, int
 * lists, and graphs (an If's branches: GraphBuilder.branch()).
 */
export type AttributeValue = number | { float: number } | string | number[] | { graph: GraphProto };

/** Weight bytes that live outside the model proto; ONNX Runtime receives them as `externalData`. */
export interface ExternalTensor {
  /** The virtual file name the initializer refers to. */
  path: string;
  data: Uint8Array;
}

/** Where an external initializer's bytes go: kept in memory, or written to a bundle's files. */
export interface ExternalSink {
  place(name: string, bytes: Uint8Array): { location: string; offset: number; length: number };
}

/**
 * The default sink: every initializer is a virtual file of its own, handed to ONNX Runtime as a
 * zero-copy view (buffers of < 2 GiB each; one file per tensor avoids concatenating gigabytes).
 */
export class MemorySink implements ExternalSink {
  readonly files: ExternalTensor[] = [];

  place(name: string, bytes: Uint8Array): { location: string; offset: number; length: number } {
    const path = `${name}.bin`;
    this.files.push({ path, data: bytes });
    return { location: path, offset: 0, length: bytes.byteLength };
  }
}

export type TypedData = Float32Array | BigInt64Array | Int32Array | Uint8Array | Int8Array | Uint16Array;

function bytesOf(data: TypedData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Collects the pieces of one ONNX graph. Tensor names are unique per graph; `tmp(prefix)` hands out
 * fresh names for intermediate values.
 */
export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly constants = new Map<string, string>();
  private counter = 0;

  /** `scope` prefixes the names this builder makes, so that a branch's never meet its parent's. */
  constructor(
    private readonly sink: ExternalSink = new MemorySink(),
    private readonly scope = '',
  ) {}

  tmp(prefix: string): string {
    this.counter += 1;
    return `${this.scope}${prefix}__${this.counter}`;
  }

  /**
   * A builder for a subgraph (an If's branch): its nodes may read this graph's values by name, its
   * own names are prefixed with `scope`, and branchGraph() turns it into the attribute value.
   */
  branch(scope: string): GraphBuilder {
    return new GraphBuilder(this.sink, `${this.scope}${scope}_`);
  }

  /** This builder's nodes, constants and outputs as a subgraph (see branch()). */
  branchGraph(name: string): { graph: GraphProto } {
    return { graph: onnx.GraphProto.create({ name: `${this.scope}${name}`, node: this.nodes, output: this.outputs, initializer: this.initializers }) };
  }

  input(name: string, type: ElementType, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  output(name: string, type: ElementType, dims: Dim[]): string {
    this.outputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** An initializer stored inside the model proto (small tensors: shapes, scalars, LayerNorm weights). */
  inline(name: string, type: ElementType, dims: number[], data: TypedData): string {
    this.initializers.push(onnx.TensorProto.create({ name, dataType: DATA_TYPE[type], dims, rawData: bytesOf(data) }));
    return name;
  }

  /** An initializer whose bytes stay outside the proto: handed to the sink (see MemorySink). */
  externalInit(name: string, type: ElementType, dims: number[], data: TypedData): string {
    const bytes = bytesOf(data);
    if (bytes.byteLength >= 2 ** 31) throw new Error(`initializer ${name} is ${bytes.byteLength} bytes; ONNX Runtime takes < 2 GiB per initializer`);
    const place = this.sink.place(name, bytes);
    this.initializers.push(
      onnx.TensorProto.create({
        name,
        dataType: DATA_TYPE[type],
        dims,
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: place.location },
          { key: 'offset', value: String(place.offset) },
          { key: 'length', value: String(place.length) },
        ],
      }),
    );
    return name;
  }

  /** A shared int64 constant (shapes, axes, slice bounds), created once per distinct value list. */
  int64s(values: readonly number[]): string {
    const key = `i64:${values.join(',')}`;
    const existing = this.constants.get(key);
    if (existing) return existing;
    const name = this.inline(`${this.scope}const_i64_${this.constants.size}`, 'int64', [values.length], BigInt64Array.from(values.map(BigInt)));
    this.constants.set(key, name);
    return name;
  }

  /** A shared float32 scalar constant. */
  scalar(value: number): string {
    const key = `f32:${value}`;
    const existing = this.constants.get(key);
    if (existing) return existing;
    const name = this.inline(`${this.scope}const_f32_${this.constants.size}`, 'float32', [], new Float32Array([value]));
    this.constants.set(key, name);
    return name;
  }

  /**
   * Adds a node and returns the names of its outputs: `outputs` may be explicit names or a count of
   * fresh names to make.
   */
  node(opType: string, inputs: string[], outputs: string[] | number = 1, attributes: Record<string, AttributeValue> = {}, domain = ''): string[] {
    const outNames = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.tmp(opType)) : outputs;
    this.nodes.push(
      onnx.NodeProto.create({
        opType,
        domain,
        input: inputs,
        output: outNames,
        name: `${opType}_${outNames[0]}`,
        attribute: Object.entries(attributes).map(([key, value]) => attribute(key, value)),
      }),
    );
    return outNames;
  }

  /** Shorthand for single-output nodes. */
  op(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, output?: string, domain = ''): string {
    const [out] = this.node(opType, inputs, output ? [output] : 1, attributes, domain);
    return out as string;
  }

  build(graphName: string, opset = 21): { model: Uint8Array; external: ExternalTensor[] } {
    const model = onnx.ModelProto.create({
      irVersion: 10,
      producerName: 'chatglm-cluster',
      opsetImport: [
        { domain: '', version: opset },
        { domain: 'com.microsoft', version: 1 },
      ],
      graph: { name: graphName, node: this.nodes, input: this.inputs, output: this.outputs, initializer: this.initializers },
    });
    return { model: onnx.ModelProto.encode(model).finish(), external: this.sink instanceof MemorySink ? [...this.sink.files] : [] };
  }
}

function valueInfo(name: string, type: ElementType, dims: Dim[]): ValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: DATA_TYPE[type],
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  });
}

function attribute(name: string, value: AttributeValue) {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}: pass non-integer floats as { float: x }`);
    return { name, type: T.INT, i: value };
  }
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if ('graph' in value) return { name, type: T.GRAPH, g: value.graph };
  return { name, type: T.FLOAT, f: value.float };
}
