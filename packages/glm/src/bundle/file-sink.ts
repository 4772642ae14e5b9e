// An ExternalSink that writes initializers straight into a bundle's weight files as the graph is
// built, so converting a model holds one tensor at a time, not the whole model. Files roll over at
// `maxFileBytes`; every initializer starts 64-byte aligned (friendly to memory-mapped loading).
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ExternalSink } from '../onnx/graph-builder.ts';

/** Default size at which a new weights file is started. */
export const DEFAULT_MAX_FILE_BYTES = 2 ** 30;
const ALIGN = 64;

export interface WrittenFile {
  name: string;
  bytes: number;
  sha256: string;
}

export class FileSink implements ExternalSink {
  private fd: number | undefined;
  private name = '';
  private offset = 0;
  private hash: Hash | undefined;
  private readonly done: WrittenFile[] = [];

  constructor(
    private readonly dir: string,
    private readonly maxFileBytes = DEFAULT_MAX_FILE_BYTES,
  ) {}

  place(_tensor: string, bytes: Uint8Array): { location: string; offset: number; length: number } {
    const pad = (ALIGN - (this.offset % ALIGN)) % ALIGN;
    if (this.fd === undefined || (this.offset > 0 && this.offset + pad + bytes.byteLength > this.maxFileBytes)) this.nextFile();
    else if (pad > 0) this.write(new Uint8Array(pad));
    const at = this.offset;
    this.write(bytes);
    return { location: this.name, offset: at, length: bytes.byteLength };
  }

  /** Closes the last file; returns every file written with its size and hash. Idempotent. */
  finish(): WrittenFile[] {
    this.closeFile();
    return [...this.done];
  }

  private nextFile(): void {
    this.closeFile();
    this.name = `weights-${String(this.done.length).padStart(3, '0')}.bin`;
    this.fd = fs.openSync(path.join(this.dir, this.name), 'w');
    this.offset = 0;
    this.hash = createHash('sha256');
  }

  private write(bytes: Uint8Array): void {
    let written = 0;
    while (written < bytes.byteLength) written += fs.writeSync(this.fd as number, bytes, written, bytes.byteLength - written);
    this.hash?.update(bytes);
    this.offset += bytes.byteLength;
  }

  private closeFile(): void {
    if (this.fd === undefined) return;
    fs.closeSync(this.fd);
    this.done.push({ name: this.name, bytes: this.offset, sha256: (this.hash as Hash).digest('hex') });
    this.fd = undefined;
  }
}
