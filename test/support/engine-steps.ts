// Driving stage chains the way the engine tests need: greedy runs that keep every step's
// activations, and sequences decoded alone versus batched.
import { glmPositions, promptLayout, type GlmConfig, type PromptLayout } from '@chatglm/glm';
import type { StageChain } from '@chatglm/runtime';
import { maxAbsDiff } from './golden.ts';
import { argmax, promptIds } from './models.ts';

/** Greedy generation on one sequence: the final hidden states of every step and the tokens. */
export async function greedyRun(c: StageChain, config: GlmConfig, text: number[], steps: number): Promise<{ hidden: Float32Array[]; tokens: number[] }> {
  const prompt = promptIds(config, text);
  const layout = promptLayout(prompt, config);
  const { positions, blockPositions } = glmPositions(layout, 0, prompt.length);
  let out = await c.prefill({ seqId: 's', tokens: prompt, positions, blockPositions, contextLength: layout.contextLength }, { fetchHidden: true });
  const hidden = [out.hidden!];
  const tokens: number[] = [];
  for (let k = 0; k < steps; k++) {
    const token = argmax(out.logits!);
    tokens.push(token);
    const pos = glmPositions(layout, prompt.length + k, 1);
    out = await c.decode([{ seqId: 's', token, position: pos.positions[0]!, blockPosition: pos.blockPositions[0]! }], { fetchHidden: true });
    hidden.push(out.hidden!);
  }
  await c.release('s');
  return { hidden, tokens };
}

/** The largest difference between two runs' step-by-step activations (or logits). */
export function worstDiff(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  a.forEach((x, i) => (worst = Math.max(worst, maxAbsDiff(x, b[i]!))));
  return worst;
}

export interface Seq {
  id: string;
  prompt: number[];
  layout: PromptLayout;
  tokens: number[];
  logits: Float32Array[];
}

export function newSeqs(config: GlmConfig, prompts: number[][]): Seq[] {
  return prompts.map((text, i) => {
    const prompt = promptIds(config, text);
    return { id: `seq${i}`, prompt, layout: promptLayout(prompt, config), tokens: [], logits: [] };
  });
}

export async function prefillSeq(c: StageChain, s: Seq): Promise<void> {
  const { positions, blockPositions } = glmPositions(s.layout, 0, s.prompt.length);
  const out = await c.prefill({ seqId: s.id, tokens: s.prompt, positions, blockPositions, contextLength: s.layout.contextLength });
  s.logits.push(out.logits!);
  s.tokens.push(argmax(out.logits!));
}

/** The decode entry feeding a sequence's newest token. */
export function nextEntry(s: Seq) {
  const k = s.tokens.length - 1;
  const pos = glmPositions(s.layout, s.prompt.length + k, 1);
  return { seqId: s.id, token: s.tokens[k]!, position: pos.positions[0]!, blockPosition: pos.blockPositions[0]! };
}

/** Each sequence prefilled and greedily decoded alone on `c` (released afterwards). */
export async function decodeAlone(c: StageChain, seqs: Seq[], steps: number): Promise<void> {
  for (const s of seqs) {
    await prefillSeq(c, s);
    for (let k = 0; k < steps; k++) {
      const out = await c.decode([nextEntry(s)]);
      s.logits.push(out.logits!);
      s.tokens.push(argmax(out.logits!));
    }
    await c.release(s.id);
  }
}

/** All sequences prefilled, then decoded together, in a different order each step (rows must map back). */
export async function decodeBatched(c: StageChain, seqs: Seq[], steps: number, vocab: number): Promise<void> {
  for (const s of seqs) await prefillSeq(c, s);
  for (let k = 0; k < steps; k++) {
    const order = k % 2 === 0 ? seqs : [...seqs].reverse();
    const out = await c.decode(order.map(nextEntry));
    order.forEach((s, r) => {
      const row = out.logits!.slice(r * vocab, (r + 1) * vocab);
      s.logits.push(row);
      s.tokens.push(argmax(row));
    });
  }
}
