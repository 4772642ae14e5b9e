// What the gateway reads from a model directory: config.json (for the context length) and the
// tokenizer. Never the weights, so a gateway runs on a small machine beside any checkpoint format.
import { readModelDirectory, type GlmConfig } from '@chatglm/glm';
import { ChatGLMTokenizer } from '@chatglm/tokenizer';

export interface GatewayModel {
  config: GlmConfig;
  tokenizer: ChatGLMTokenizer;
}

export async function loadGatewayModel(dir: string): Promise<GatewayModel> {
  const model = readModelDirectory(dir, { weights: false });
  return { config: model.config, tokenizer: await ChatGLMTokenizer.load(model.tokenizerFile) };
}
