// Where generated files live: the embedded default model, converted bundles.
import os from 'node:os';
import path from 'node:path';

/** `$CHATGLM_CACHE_DIR`, else `$XDG_CACHE_HOME/chatglm-cluster`, else `~/.cache/chatglm-cluster`. */
export function cacheRoot(): string {
  if (process.env.CHATGLM_CACHE_DIR) return path.resolve(process.env.CHATGLM_CACHE_DIR);
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(xdg, 'chatglm-cluster');
}
