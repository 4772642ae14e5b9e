/**
 * The NORMAL pieces of the test tokenizer model, grouped in tiers that share a score.
 *
 * Scores play the role of Unigram log-probabilities: Viterbi picks the segmentation with the
 * highest total, so a whole word (one piece) must beat its letters (several pieces) and a CJK word
 * must beat its characters. The tiers keep that true for every word listed:
 *   word with ▁  -4   >  ▁ (-2) + any 2 letters (-16)
 *   CJK word     -5   >  any 2 CJK characters (-14)
 * Pieces are modelled on what ChatGLM's vectors show: "你好" is "▁" + "你好" (no "▁你好" piece),
 * a leading "[" is "▁[", digits are single pieces, "Round" after "[" has no "▁".
 */

export interface PieceTier {
  readonly score: number;
  readonly pieces: readonly string[];
}

/** The lone word-boundary piece; cheap because it starts every CJK sentence. */
export const DUMMY_PREFIX_TIER: PieceTier = { score: -2, pieces: ['\u2581'] };

const ENGLISH_WORDS = [
  'the', 'be', 'to', 'of', 'and', 'a', 'in', 'that', 'have', 'I', 'it', 'for', 'not', 'on', 'with',
  'he', 'as', 'you', 'do', 'at', 'this', 'but', 'his', 'by', 'from', 'they', 'we', 'say', 'her',
  'she', 'or', 'an', 'will', 'my', 'one', 'all', 'would', 'there', 'their', 'what', 'so', 'up',
  'out', 'if', 'about', 'who', 'get', 'which', 'go', 'me', 'when', 'make', 'can', 'like', 'time',
  'no', 'just', 'him', 'know', 'take', 'people', 'into', 'year', 'your', 'good', 'some', 'could',
  'them', 'see', 'other', 'than', 'then', 'now', 'look', 'only', 'come', 'its', 'over', 'think',
  'also', 'back', 'after', 'use', 'two', 'how', 'our', 'work', 'first', 'well', 'way', 'even',
  'new', 'want', 'because', 'any', 'these', 'give', 'day', 'most', 'us', 'is', 'are', 'was',
  'were', 'am', 'has', 'had', 'been', 'hello', 'Hello', 'world', 'World', 'def', 'main', 'print',
  'return', 'import', 'class', 'self', 'True', 'False', 'None', 'hi', 'Hi', 'thanks', 'please',
  'help', 'question', 'answer', 'model', 'language', 'chat', 'Chat', 'ice', 'greeting', 'The',
  'This', 'What', 'How', 'It', 'We', 'You', 'don', 'isn', 'can', 'won', 'let', 'I\'m',
];

/** English words with the ▁ word-boundary prefix. */
export const WORD_TIER: PieceTier = {
  score: -4,
  pieces: [...new Set(ENGLISH_WORDS)].map((w) => `\u2581${w}`).concat(['\u2581[', '\u2581(']),
};

/** Word pieces that also occur without ▁ (after "(", "<|blank_4|>", ...) and common suffixes. */
export const FRAGMENT_TIER: PieceTier = {
  score: -6,
  pieces: [
    'hello', 'world', 'print', 'main', 'self', 'Round', 'GLM', 'tk', 'ing', 'ed', 'er', 'es', 'ly',
    'tion', 'ment', 'ness', "'s", "n't", "'m", "'re", "'ve", 'th', 'he', 'in', 'an', 'on', 're',
  ],
};

/** Every printable ASCII character except space (space is ▁). */
export const ASCII_TIER: PieceTier = {
  score: -8,
  pieces: Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)),
};

export const CJK_WORD_TIER: PieceTier = {
  score: -5,
  pieces: [
    '你好', '我是', '人工智能', '助手', '很高兴', '见到', '欢迎', '问题', '任何', '晚上', '睡不着',
    '应该', '怎么办', '世界', '这里', '中国', '我们', '你们', '他们', '什么', '没有', '学习', '语言',
    '模型', '清华', '谢谢', '再见', '可以', '今天', '明天', '时间', '知道', '因为', '所以', '但是',
    '大学', '工作', '朋友', '喜欢', '一个',
  ],
};

export const CJK_CHAR_TIER: PieceTier = {
  score: -7,
  // A Set: the characters of the words above repeat in these strings.
  pieces: [
    ...new Set([
    ...'你好我是人工智能助手很高兴见到欢迎问答任何题晚上睡不着应该怎么办世界这里的了在有中国大小',
    ...'一二三四五六七八九十天年月日他她它们说来去看想要会可以什没学习语言模型清华谢再今明时间知',
    ...'道因为所但工作朋友喜个',
    ]),
  ],
};

/** CJK punctuation that NFKC leaves alone ("。" stays "。", unlike "，" which becomes ","). */
export const CJK_PUNCTUATION_TIER: PieceTier = {
  score: -6,
  pieces: [...'。、《》“”‘’…—·【】「」'],
};

export const NORMAL_TIERS: readonly PieceTier[] = [
  DUMMY_PREFIX_TIER,
  WORD_TIER,
  FRAGMENT_TIER,
  ASCII_TIER,
  CJK_WORD_TIER,
  CJK_CHAR_TIER,
  CJK_PUNCTUATION_TIER,
];
