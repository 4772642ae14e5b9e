// What the pipeline head admits by, beside its slots: the KV cache pages of its stages, when a stage
// was started with fewer positions than every slot at full length (--kv-cache-tokens).
import { ChatGlmError } from '@chatglm/common';
import { kvPagesFor, type KvPageBudget } from '@chatglm/scheduler';

/**
 * The pages every stage's KV cache holds (the fewest of the stages that report them), when they
 * are fewer than every slot at full length on some stage: then the scheduler admits by pages too.
 * Stages report one page size (the same code makes every cache); one that differs cannot be
 * budgeted against the others, and is refused.
 */
export function kvPageBudget(stages: readonly { maxSequences: number; maxTokensPerSequence: number; kvPages?: number; kvPageSize?: number }[], prefixLength: number): KvPageBudget | undefined {
  const reporting = stages.filter((s) => (s.kvPages ?? 0) > 0 && (s.kvPageSize ?? 0) > 0);
  const [first] = reporting;
  if (!first) return undefined;
  const pageSize = first.kvPageSize as number;
  if (reporting.some((s) => s.kvPageSize !== pageSize)) {
    throw new ChatGlmError('invalid_pipeline', `the stages' KV caches use pages of ${[...new Set(reporting.map((s) => s.kvPageSize))].join(' and ')} positions; run every stage of a pipeline from the same release`);
  }
  const pages = Math.min(...reporting.map((s) => s.kvPages as number));
  // Every slot at full length fits on every stage: slots alone limit admission, as without a budget.
  const fullLength = (s: { maxSequences: number; maxTokensPerSequence: number }) => s.maxSequences * kvPagesFor(s.maxTokensPerSequence, { pageSize, prefixLength });
  if (reporting.length === stages.length && reporting.every((s) => (s.kvPages as number) >= fullLength(s))) return undefined;
  return { pages, pageSize, prefixLength };
}
