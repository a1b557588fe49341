/** A small builder of ONNX graphs: initializers, nodes, inputs and outputs, encoded as a ModelProto. */
import { AttributeType, DataType, ModelProto } from './onnx-schema';

/** An integer, a list of integers, a string, or a float written as `{ float: x }`. */
export type Attribute = number | number[] | string | { float: number };

/** A dimension: a size, or the name of a dynamic one. */
export type Dim = number | string;

export interface ModelOptions {
  irVersion: number;
  opsetVersion: number;
  producerName: string;
  metadata?: Record<string, string>;
}

const hostLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The array's bytes in little-endian order, as raw_data requires. */
function littleEndianBytes(values: Float32Array | BigInt64Array): Uint8Array {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (hostLittleEndian) return bytes;
  const width = values.BYTES_PER_ELEMENT;
  const swapped = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) swapped[i] = bytes[i - (i % width) + width - 1 - (i % width)];
  return swapped;
}

function attribute(name: string, value: Attribute): object {
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: Buffer.from(value, 'utf8') };
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if (typeof value === 'object') return { name, type: AttributeType.FLOAT, f: value.float };
  if (!Number.isInteger(value)) throw new Error(`attribute ${name}: ${value} is not an integer (write floats as { float: x })`);
  return { name, type: AttributeType.INT, i: value };
}

function valueInfo(name: string, dims: Dim[]): object {
  const dim = dims.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d }));
  return { name, type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim } } } };
}

export class GraphBuilder {
  private readonly names = new Set<string>();
  private readonly nodes: object[] = [];
  private readonly initializers: object[] = [];
  private readonly inputs: object[] = [];
  private readonly outputs: object[] = [];

  constructor(readonly name: string) {}

  /** `base`, or `base_1`, `base_2`... when taken; the name is then reserved. */
  unique(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  /** A float32 initializer; returns its name (`name` itself unless taken). */
  addFloat(name: string, data: Float32Array, dims: number[]): string {
    const unique = this.unique(name);
    this.initializers.push({ name: unique, data_type: DataType.FLOAT, dims, raw_data: littleEndianBytes(data) });
    return unique;
  }

  /** A 1-D int64 initializer; returns its name. */
  addInt64(name: string, values: number[]): string {
    const unique = this.unique(name);
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    this.initializers.push({ name: unique, data_type: DataType.INT64, dims: [values.length], raw_data: littleEndianBytes(data) });
    return unique;
  }

  /** A node with one output, named after `name`; returns the output's name. An input '' is an omitted optional one. */
  addNode(opType: string, inputs: string[], attributes: Record<string, Attribute> = {}, name: string = opType): string {
    const output = this.unique(name);
    const list = Object.entries(attributes).map(([key, value]) => attribute(key, value));
    this.nodes.push({ op_type: opType, name: output, input: inputs, output: [output], attribute: list });
    return output;
  }

  /** A float32 graph input; returns its name. */
  addInput(name: string, dims: Dim[]): string {
    if (this.names.has(name)) throw new Error(`graph input ${name}: the name is taken`);
    this.names.add(name);
    this.inputs.push(valueInfo(name, dims));
    return name;
  }

  /** Makes the value `from` a float32 graph output named `name` (through an Identity node). */
  addOutput(name: string, from: string, dims: Dim[]): void {
    if (this.names.has(name)) throw new Error(`graph output ${name}: the name is taken`);
    this.names.add(name);
    this.nodes.push({ op_type: 'Identity', name, input: [from], output: [name] });
    this.outputs.push(valueInfo(name, dims));
  }

  encode(options: ModelOptions): Uint8Array {
    const model = {
      ir_version: options.irVersion,
      producer_name: options.producerName,
      opset_import: [{ domain: '', version: options.opsetVersion }],
      graph: { name: this.name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
      metadata_props: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
    };
    return ModelProto.encode(model).finish();
  }
}
