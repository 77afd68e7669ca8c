// Typed views over bytes that may sit at any offset. A Buffer decoded from gRPC or NATS is a view into a larger,
// shared allocation, so a 16- or 32-bit view of it needs its offset checked first, and Buffer#slice does not copy
// (it is a view too): a misaligned view threw RangeError in the frame loop and took the room host down.

/** `bytes` itself when its offset is a multiple of `alignment`, else a copy at offset 0. */
export function aligned(bytes: Uint8Array, alignment: 2 | 4): Uint8Array {
  return bytes.byteOffset % alignment === 0 ? bytes : new Uint8Array(bytes);
}
