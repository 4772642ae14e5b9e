// The web chat page (like the original web demo): each message goes to /v1/chat/completions with
// the conversation so far and streams back as server-sent events; Stop closes the stream, which
// cancels the request on the server. No framework, no CDN: this file and markdown.js are all.
import { renderMarkdown } from './markdown.js';

const $ = (id) => document.getElementById(id);
const messages = $('messages');
const input = $('input');
const send = $('send');
const stop = $('stop');
const sliders = { maxLength: $('max-length'), topP: $('top-p'), temperature: $('temperature') };
const apiKey = $('api-key');
/** Where the key is kept: this tab's session only. */
const API_KEY_ITEM = 'chatglm-api-key';
apiKey.value = sessionStorage.getItem(API_KEY_ITEM) ?? '';
apiKey.addEventListener('change', () => sessionStorage.setItem(API_KEY_ITEM, apiKey.value.trim()));

/** Finished turns, [query, reply], as the original demo keeps them. */
let history = [];
/** The reply being streamed: its AbortController. */
let running = null;

for (const [id, slider] of [['max-length-value', sliders.maxLength], ['top-p-value', sliders.topP], ['temperature-value', sliders.temperature]]) {
  const show = () => ($(id).textContent = slider === sliders.maxLength && slider.value === slider.max ? 'as the context allows' : slider.value);
  slider.addEventListener('input', show);
  show();
}

function bubble(role, text) {
  const el = document.createElement('div');
  el.className = `message ${role}`;
  const content = document.createElement('div');
  content.className = 'content';
  const status = document.createElement('div');
  status.className = 'status';
  el.append(content, status);
  if (role === 'user') content.textContent = text;
  messages.append(el);
  el.scrollIntoView({ block: 'end' });
  return { el, content, status };
}

function setRunning(controller) {
  running = controller;
  send.disabled = controller !== null;
  stop.disabled = controller === null;
}

/** The body's server-sent events, as parsed `data:` payloads. */
async function* events(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of block.split('\n')) if (line.startsWith('data: ')) yield line.slice(6);
    }
  }
}

async function ask(query) {
  const user = bubble('user', query);
  const reply = bubble('assistant', '');
  reply.status.textContent = 'thinking…';
  const turns = history.flatMap(([q, r]) => [{ role: 'user', content: q }, { role: 'assistant', content: r }]);
  const body = {
    messages: [...turns, { role: 'user', content: query }],
    stream: true,
    top_p: Number(sliders.topP.value),
    temperature: Number(sliders.temperature.value),
    // At the slider's top: as long as the model's context allows.
    ...(sliders.maxLength.value !== sliders.maxLength.max && { max_tokens: Number(sliders.maxLength.value) }),
  };
  const controller = new AbortController();
  setRunning(controller);
  let text = '';
  let drawn = true;
  const draw = () => {
    drawn = true;
    reply.content.replaceChildren(renderMarkdown(text));
    reply.el.scrollIntoView({ block: 'end' });
  };
  try {
    const key = apiKey.value.trim();
    const headers = { 'content-type': 'application/json', ...(key && { authorization: `Bearer ${key}` }) };
    const res = await fetch('/v1/chat/completions', { method: 'POST', headers, body: JSON.stringify(body), signal: controller.signal });
    if (!res.ok) {
      const error = await res.json().catch(() => ({}));
      if (res.status === 401) {
        $('parameters').open = true;
        apiKey.focus();
        throw new Error(`${error.error?.message ?? 'an API key is needed'}; enter it under Parameters`);
      }
      throw new Error(error.error?.message ?? `the server answered ${res.status}`);
    }
    reply.status.textContent = '';
    for await (const data of events(res.body)) {
      if (data === '[DONE]') break;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message);
      const delta = chunk.choices?.[0]?.delta?.content;
      if (delta) {
        text += delta;
        // One redraw per frame however many deltas arrive.
        if (drawn) {
          drawn = false;
          requestAnimationFrame(draw);
        }
      }
      const finish = chunk.choices?.[0]?.finish_reason;
      if (finish === 'length') reply.status.textContent = 'stopped at the maximum length';
    }
    draw();
    history.push([query, text]);
  } catch (err) {
    draw();
    if (controller.signal.aborted) {
      reply.status.textContent = 'stopped';
      history.push([query, text]);
    } else {
      reply.el.classList.add('error');
      reply.status.textContent = `error: ${err.message}`;
      user.status.textContent = 'not answered; send again to retry';
    }
  } finally {
    setRunning(null);
    if (document.activeElement !== apiKey) input.focus();
  }
}

$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  const query = input.value.trim();
  if (!query || running) return;
  input.value = '';
  void ask(query);
});
input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $('composer').requestSubmit();
  }
});
stop.addEventListener('click', () => running?.abort());
$('clear').addEventListener('click', () => {
  running?.abort();
  history = [];
  messages.replaceChildren();
  input.focus();
});
input.focus();
