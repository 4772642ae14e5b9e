// The bytes of Entry.activations: [n_tokens, hidden] values, little-endian, in the dtype that the
// receiving stage announces in its StageInfo. FLOAT32 is exact and, on little-endian machines (all
// that Node targets in practice), costs no copy in either direction when alignment allows.
import os from 'node:os';
import { float16ToFloat32, float32ToFloat16 } from '@chatglm/common';
import { ProtocolError } from './errors.ts';
import type { ActivationDtype } from './messages.ts';

const LITTLE_ENDIAN = os.endianness() === 'LE';

/** Bytes per value on the wire for a dtype; throws for UNSPECIFIED or an unknown name. */
export function bytesPerActivation(dtype: ActivationDtype): 2 | 4 {
  if (dtype === 'ACTIVATION_DTYPE_FLOAT32') return 4;
  if (dtype === 'ACTIVATION_DTYPE_FLOAT16') return 2;
  throw new ProtocolError('invalid_dtype', `activation dtype ${String(dtype)} is not usable: a stage must announce ACTIVATION_DTYPE_FLOAT32 or ACTIVATION_DTYPE_FLOAT16`);
}

/**
 * Encodes activations for the wire. FLOAT32 returns a Buffer that SHARES memory with `data` (no
 * copy): do not modify `data` until the message holding it has been sent. FLOAT16 rounds each
 * value to the nearest half (ties to even; beyond +-65504 gives infinity) into a new Buffer.
 */
export function encodeActivations(data: Float32Array, dtype: ActivationDtype): Buffer {
  if (bytesPerActivation(dtype) === 4) {
    if (LITTLE_ENDIAN) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const out = Buffer.allocUnsafe(data.length * 4);
    for (let i = 0; i < data.length; i++) out.writeFloatLE(data[i] as number, i * 4);
    return out;
  }
  // A fresh ArrayBuffer (not Buffer.allocUnsafe's shared pool), so the bytes start at offset 0.
  const halves = float32ToFloat16(data);
  const out = Buffer.from(halves.buffer, 0, halves.byteLength);
  if (!LITTLE_ENDIAN) out.swap16();
  return out;
}

/**
 * Decodes received activations, checking that they hold exactly `expectedFloats` values (n_tokens
 * x hidden_size). FLOAT32 returns a view of `bytes` when it is 4-byte aligned on a little-endian
 * machine (the result then shares memory with the received message), else a copy. FLOAT16 widens
 * into a new array (exact: every half value is an fp32 value).
 */
export function decodeActivations(bytes: Uint8Array, dtype: ActivationDtype, expectedFloats: number): Float32Array {
  const size = bytesPerActivation(dtype);
  if (!Number.isSafeInteger(expectedFloats) || expectedFloats < 0) {
    throw new ProtocolError('invalid_activations', `expected activation count must be a non-negative integer, got ${expectedFloats}`);
  }
  if (bytes.byteLength !== expectedFloats * size) {
    const name = size === 4 ? 'float32' : 'float16';
    throw new ProtocolError(
      'invalid_activations',
      `activations hold ${bytes.byteLength} bytes but ${expectedFloats} ${name} values need ${expectedFloats * size}` +
        (bytes.byteLength % size === 0 ? ` (the sender sent ${bytes.byteLength / size} values: wrong token count, hidden size or dtype?)` : ''),
    );
  }
  if (size === 4) {
    if (LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, expectedFloats);
    const out = new Float32Array(expectedFloats);
    const outBytes = new Uint8Array(out.buffer);
    outBytes.set(bytes);
    if (!LITTLE_ENDIAN) Buffer.from(out.buffer).swap32();
    return out;
  }
  const out = new Float32Array(expectedFloats);
  let halves: Uint16Array;
  if (LITTLE_ENDIAN && bytes.byteOffset % 2 === 0) {
    halves = new Uint16Array(bytes.buffer, bytes.byteOffset, expectedFloats);
  } else {
    const aligned = new Uint8Array(expectedFloats * 2); // a memcpy, far cheaper than the widening
    aligned.set(bytes);
    if (!LITTLE_ENDIAN) Buffer.from(aligned.buffer).swap16();
    halves = new Uint16Array(aligned.buffer);
  }
  return float16ToFloat32(halves, out);
}
