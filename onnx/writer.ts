// Writes ONNX model files (ModelProto) without Python: the few messages a small inference graph needs, encoded
// with protobuf's wire format. Field numbers are those of onnx/onnx.proto (IR version 8, opset 17). The project
// makes its own small models with this (a synthetic Piper-format voice, the lip-sync network) since no weights can
// be downloaded here.
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

/** onnx.TensorProto.DataType */
export const DataType = { FLOAT: 1, INT64: 7, BOOL: 9, FLOAT16: 10 } as const;
type DataTypeValue = (typeof DataType)[keyof typeof DataType];

export interface Tensor {
  name: string;
  dims: number[];
  type: DataTypeValue;
  /** Row-major values. */
  values: number[] | Float32Array;
}

export type AttributeValue = number | number[] | string | { ints: number[] } | { tensor: Tensor };

export interface Node {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, AttributeValue>;
}

export interface ValueInfo {
  name: string;
  type: DataTypeValue;
  /** A number for a fixed size, a string for a named dynamic one ("batch", "samples"). */
  shape: (number | string)[];
}

export interface Model {
  name: string;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  nodes: Node[];
  initializers: Tensor[];
  /** Stored in metadata_props: provenance, notes ("synthetic weights"). */
  metadata?: Record<string, string>;
  opset?: number;
}

const LEN = WireType.LengthDelimited;
const VARINT = WireType.Varint;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 half-precision bits of a number, rounded to nearest (Node 20 has no Float16Array). */
export function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = ((x >>> 23) & 0xff) - 112; // rebased from 127 to 15
  const mantissa = x & 0x7fffff;
  if (((x >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0); // infinity, NaN
  if (exponent >= 31) return sign | 0x7c00; // too large: infinity
  if (exponent <= 0) {
    if (exponent < -10) return sign; // too small: zero
    const shift = 14 - exponent;
    const full = mantissa | 0x800000;
    return sign | ((full >> shift) + ((full >> (shift - 1)) & 1));
  }
  // A carry out of the mantissa rounds into the exponent, as it should.
  return (sign | (exponent << 10) | (mantissa >> 13)) + ((mantissa >> 12) & 1);
}

function writeTensor(w: BinaryWriter, t: Tensor): void {
  for (const d of t.dims) w.tag(1, VARINT).int64(d);
  w.tag(2, VARINT).int32(t.type);
  w.tag(8, LEN).string(t.name);
  // raw_data (field 9): little-endian values, the compact form onnxruntime reads directly.
  const raw =
    t.type === DataType.FLOAT
      ? new Uint8Array(Float32Array.from(t.values).buffer)
      : t.type === DataType.FLOAT16
        ? new Uint8Array(Uint16Array.from(t.values, toHalf).buffer)
        : t.type === DataType.INT64
          ? new Uint8Array(BigInt64Array.from(Array.from(t.values, (v) => BigInt(Math.trunc(v)))).buffer)
          : Uint8Array.from(t.values, (v) => (v ? 1 : 0));
  w.tag(9, LEN).bytes(raw);
}

function writeAttribute(w: BinaryWriter, name: string, value: AttributeValue): void {
  w.tag(1, LEN).string(name);
  if (typeof value === "number") {
    if (Number.isInteger(value)) w.tag(3, VARINT).int64(value).tag(20, VARINT).int32(2);
    else w.tag(2, WireType.Bit32).float(value).tag(20, VARINT).int32(1);
  } else if (typeof value === "string") {
    w.tag(4, LEN).bytes(new TextEncoder().encode(value)).tag(20, VARINT).int32(3);
  } else if (Array.isArray(value)) {
    for (const f of value) w.tag(7, WireType.Bit32).float(f);
    w.tag(20, VARINT).int32(6);
  } else if ("ints" in value) {
    for (const i of value.ints) w.tag(8, VARINT).int64(i);
    w.tag(20, VARINT).int32(7);
  } else {
    w.tag(5, LEN).fork();
    writeTensor(w, value.tensor);
    w.join().tag(20, VARINT).int32(4);
  }
}

function writeValueInfo(w: BinaryWriter, v: ValueInfo): void {
  w.tag(1, LEN).string(v.name);
  w.tag(2, LEN).fork(); // TypeProto
  w.tag(1, LEN).fork(); // TypeProto.Tensor
  w.tag(1, VARINT).int32(v.type);
  w.tag(2, LEN).fork(); // TensorShapeProto
  for (const dim of v.shape) {
    w.tag(1, LEN).fork();
    if (typeof dim === "number") w.tag(1, VARINT).int64(dim);
    else w.tag(2, LEN).string(dim);
    w.join();
  }
  w.join().join().join();
}

/** The serialized ModelProto, ready for `InferenceSession.create(bytes)` or a file. */
export function encodeModel(model: Model): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, VARINT).int64(8); // ir_version
  w.tag(2, LEN).string("livehost");
  w.tag(3, LEN).string("1");
  w.tag(8, LEN)
    .fork()
    .tag(1, LEN)
    .string("")
    .tag(2, VARINT)
    .int64(model.opset ?? 17)
    .join();
  w.tag(7, LEN).fork(); // GraphProto
  for (const [i, node] of model.nodes.entries()) {
    w.tag(1, LEN).fork();
    for (const input of node.inputs) w.tag(1, LEN).string(input);
    for (const output of node.outputs) w.tag(2, LEN).string(output);
    w.tag(3, LEN).string(`${node.op.toLowerCase()}_${i}`);
    w.tag(4, LEN).string(node.op);
    for (const [name, value] of Object.entries(node.attributes ?? {})) {
      w.tag(5, LEN).fork();
      writeAttribute(w, name, value);
      w.join();
    }
    w.join();
  }
  w.tag(2, LEN).string(model.name);
  for (const tensor of model.initializers) {
    w.tag(5, LEN).fork();
    writeTensor(w, tensor);
    w.join();
  }
  for (const input of model.inputs) {
    w.tag(11, LEN).fork();
    writeValueInfo(w, input);
    w.join();
  }
  for (const output of model.outputs) {
    w.tag(12, LEN).fork();
    writeValueInfo(w, output);
    w.join();
  }
  w.join();
  for (const [key, value] of Object.entries(model.metadata ?? {})) {
    w.tag(14, LEN).fork().tag(1, LEN).string(key).tag(2, LEN).string(value).join();
  }
  return w.finish();
}
