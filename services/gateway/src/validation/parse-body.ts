// Parses a request body with a zod schema; the first problem becomes a 400 whose message names the
// field (`messages[1].role must be one of "system", "user", "assistant", got "bot"`). Handlers
// take only the parsed, typed result ("parse, don't validate").
import type { z } from 'zod';
import { invalidRequest } from '../errors.ts';
import { describeValue } from './describe-value.ts';

type Issue = z.core.$ZodRawIssue;

export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const result = schema.safeParse(body, { error: issueMessage });
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw invalidRequest(issue ? `${fieldName(issue.path)} ${issue.message}` : 'invalid request body');
}

/** `['messages', 1, 'role']` -> `messages[1].role`; the empty path is the body itself. */
export function fieldName(path: readonly PropertyKey[]): string {
  if (path.length === 0) return 'request body';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

/** Messages for zod's built-in checks, written without the field name (parseBody prefixes it). */
function issueMessage(iss: Issue): string {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'is required';
      return `must be ${article(iss.expected)}, got ${describeValue(iss.input)}`;
    case 'too_small':
      return iss.origin === 'array' ? `must have at least ${iss.minimum} item(s), got ${describeValue(iss.input)}`
        : iss.origin === 'string' ? `must be at least ${iss.minimum} character(s) long`
        : `must be ${iss.inclusive ? '>=' : '>'} ${iss.minimum}, got ${describeValue(iss.input)}`;
    case 'too_big':
      return iss.origin === 'array' ? `must have at most ${iss.maximum} item(s), got ${describeValue(iss.input)}`
        : iss.origin === 'string' ? `must be at most ${iss.maximum} character(s) long`
        : `must be ${iss.inclusive ? '<=' : '<'} ${iss.maximum}, got ${describeValue(iss.input)}`;
    case 'invalid_value':
      return `must be one of ${iss.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue(iss.input)}`;
    case 'invalid_format':
      return `has an invalid format, got ${describeValue(iss.input)}`;
    default:
      return `is invalid, got ${describeValue(iss.input)}`;
  }
}

function article(expected: string): string {
  if (expected === 'object') return 'a JSON object';
  if (expected === 'array') return 'an array';
  if (expected === 'int') return 'an integer';
  return `${/^[aeiou]/.test(expected) ? 'an' : 'a'} ${expected}`;
}
