// How error messages quote what the caller sent: short, and never the whole of a large body.

const MAX_QUOTED_CHARS = 40;

export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') {
    const quoted = JSON.stringify(v.length > MAX_QUOTED_CHARS ? `${v.slice(0, MAX_QUOTED_CHARS)}…` : v);
    return `string ${quoted}`;
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `an array of ${v.length} item(s)`;
  return `a ${typeof v === 'object' ? 'JSON object' : typeof v}`;
}
