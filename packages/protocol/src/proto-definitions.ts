// The only place in the repository that loads the .proto files (so one package owns the stage contract). They are parsed at run
// time with @grpc/proto-loader (no generated code to keep in sync), once per process, on first use.
import path from 'node:path';
import { loadPackageDefinition, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';

/** The repository's proto/ directory; import paths inside .proto files are relative to it. */
export const PROTO_ROOT = path.resolve(import.meta.dirname, '../../../proto');

const FILES = ['chatglm/stage/v1/stage.proto', 'grpc/health/v1/health.proto'];

/**
 * How messages look in JS; messages.ts mirrors these choices.
 * - keepCase false: camelCase fields, as TypeScript code expects.
 * - longs Number: step_id is a uint64 on the wire but a per-stream counter that stays far below
 *   2^53, so a plain number is exact and cheap (no Long objects or string parsing per step). The
 *   only other 64-bit value, the sampling seed, is declared a string in the proto for that reason.
 * - enums String: names ('PHASE_DECODE') survive logs and are checked by TypeScript unions.
 * - bytes Buffer: activations arrive as a Buffer view of the received message, with no copy.
 * - defaults true: every field is present on received messages, so readers never see undefined.
 * - oneofs true: a virtual field names the set member of each oneof (none today; future-proof).
 */
export const LOADER_OPTIONS: Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

interface Constructors {
  Stage: ServiceClientConstructor;
  Health: ServiceClientConstructor;
}

let loaded: Constructors | undefined;

function lookup(root: unknown, dotted: string): ServiceClientConstructor {
  let node = root;
  for (const part of dotted.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  if (typeof node !== 'function' || !('service' in node)) throw new Error(`service ${dotted} is missing from ${FILES.join(', ')}`);
  return node as ServiceClientConstructor;
}

/** Client constructors (with `.service` definitions for servers) of the Stage and Health services. */
export function protoServices(): Constructors {
  if (!loaded) {
    const root = loadPackageDefinition(loadSync(FILES, LOADER_OPTIONS));
    loaded = { Stage: lookup(root, 'chatglm.stage.v1.Stage'), Health: lookup(root, 'grpc.health.v1.Health') };
  }
  return loaded;
}
