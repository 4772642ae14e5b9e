// Renders the Markdown a model writes into DOM nodes, never through innerHTML: whatever the reply
// holds (tags, scripts, event handlers) can only ever become text. It covers what ChatGLM's replies
// use: fenced code blocks (an unclosed one while the reply still streams), inline code, headings,
// bullet and numbered lists, bold, italics, paragraphs and line breaks.

/** The reply `text` as a DocumentFragment. */
export function renderMarkdown(text, doc = document) {
  const root = doc.createDocumentFragment();
  const lines = text.split('\n');
  let paragraph = null;
  let list = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = /^\s*```\s*([\w+#.-]*)\s*$/.exec(line);
    if (fence) {
      const code = [];
      for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]); i++) code.push(lines[i]);
      const pre = doc.createElement('pre');
      const block = doc.createElement('code');
      if (fence[1]) block.dataset.lang = fence[1];
      block.textContent = code.join('\n');
      pre.append(block);
      root.append(pre);
      paragraph = list = null;
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      // Replies' headings sit inside a chat bubble: h3 at most.
      const h = doc.createElement(`h${Math.min(6, heading[1].length + 2)}`);
      appendInline(h, heading[2], doc);
      root.append(h);
      paragraph = list = null;
      continue;
    }
    const item = /^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$/.exec(line);
    if (item) {
      const tag = item[1] ? 'UL' : 'OL';
      if (!list || list.tagName !== tag) {
        list = doc.createElement(tag);
        if (tag === 'OL' && item[2] !== '1') list.start = Number(item[2]);
        root.append(list);
      }
      const li = doc.createElement('li');
      appendInline(li, item[3], doc);
      list.append(li);
      paragraph = null;
      continue;
    }
    if (line.trim() === '') {
      paragraph = list = null;
      continue;
    }
    if (paragraph) paragraph.append(doc.createElement('br'));
    else {
      paragraph = doc.createElement('p');
      root.append(paragraph);
      list = null;
    }
    appendInline(paragraph, line, doc);
  }
  return root;
}

/**
 * `code`, **bold**, *italic* and _italic_ within one line; everything else as text nodes. Underscores
 * inside a word (snake_case, __proto__) are not emphasis.
 */
function appendInline(parent, text, doc) {
  const pattern = /`([^`]+)`|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*|(?<!\w)_([^_\s][^_]*)_(?!\w)/g;
  let last = 0;
  for (let m = pattern.exec(text); m; m = pattern.exec(text)) {
    if (m.index > last) parent.append(doc.createTextNode(text.slice(last, m.index)));
    const el = doc.createElement(m[1] !== undefined ? 'code' : m[2] !== undefined ? 'strong' : 'em');
    el.textContent = m[1] ?? m[2] ?? m[3] ?? m[4];
    parent.append(el);
    last = pattern.lastIndex;
  }
  if (last < text.length) parent.append(doc.createTextNode(text.slice(last)));
}
