// The web chat page in a real browser (Debian's chromium through playwright-core) against the
// gateway and a scripted head: a reply streams in and is rendered as Markdown, HTML in a reply stays
// text, Stop cancels on the server, the conversation goes with each message until Clear, the
// sliders set the parameters, and a phone-width screen has nothing overflowing. Screenshots are
// kept in .artifacts/ (or $CHATGLM_TEST_ARTIFACTS).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { DEFAULT_SCRIPT, type Script } from './support/fake-head.ts';
import { ApiKeys } from '../src/auth/api-keys.ts';
import { Harness, useHarness, waitFor } from './support/harness.ts';

const CHROMIUM = '/usr/bin/chromium';
const missing = fs.existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed (Debian: apt-get install -y --no-install-recommends chromium; scripts/test installs it when run as root)`;
if (missing) console.log(`# web page browser checks skipped: ${missing}`);
const ARTIFACTS = process.env.CHATGLM_TEST_ARTIFACTS ?? path.resolve(import.meta.dirname, '..', '..', '..', '.artifacts');

/** The scripts the fake head plays, one per request, in order; then its default reply. */
const scripts: Script[] = [];
const env = useHarness((h) => {
  const fallback = h.fakeHead.script;
  h.fakeHead.script = (job) => scripts.shift() ?? fallback(job);
});

let browser: Browser | undefined;
before(async () => {
  if (!missing) browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});
after(async () => {
  await browser?.close();
});

async function openPage(viewport = { width: 1000, height: 800 }): Promise<Page> {
  const page = await browser!.newPage({ viewport });
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(err.message));
  page.on('console', (m) => void (m.type() === 'error' && problems.push(m.text())));
  await page.goto(`${env.h.base}/`);
  (page as unknown as { problems: string[] }).problems = problems;
  return page;
}

const lastReply = (page: Page) => page.locator('.message.assistant').last();
const sendMessage = async (page: Page, text: string) => {
  await page.locator('#input').fill(text);
  await page.locator('#input').press('Enter');
};
// Waits go through locators: the page's Content-Security-Policy forbids evaluating strings in it.
const idle = (page: Page) => page.locator('#send:not([disabled])').waitFor();

test('a reply streams in and is rendered as Markdown; HTML in a reply is shown as text and runs nothing', { skip: missing }, async () => {
  scripts.push({
    deltas: [
      '你好！下面是一个 **Python** 例子，',
      '用 `print` 输出一行文字：\n',
      '```python\n',
      'print("Hello, world!")\n',
      '```\n',
      '- 保存为 *hello.py*\n',
      '- 运行 `python hello.py`\n\n',
      '回复里的 HTML 只显示为文字：<script>window.__pwned = 1</script>',
      '<img src=x onerror="window.__pwned = 2">',
    ],
    delayMs: 250,
    finishReason: 'stop',
  });
  const page = await openPage();
  await sendMessage(page, '用 Python 写一个 hello world');
  // Watch the reply grow while it streams.
  const seen = new Set<string>();
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && (await page.locator('#send').isDisabled())) {
    seen.add((await lastReply(page).locator('.content').textContent()) ?? '');
    await new Promise((r) => setTimeout(r, 50));
  }
  await idle(page);
  const partial = [...seen].filter((t) => t !== '');
  assert.ok(partial.length >= 3, `the reply showed ${partial.length} growing states before it ended: ${JSON.stringify(partial)}`);
  const reply = lastReply(page);
  assert.equal(await page.locator('.message.user').last().textContent(), '用 Python 写一个 hello world');
  assert.equal(await reply.locator('strong').textContent(), 'Python');
  assert.equal(await reply.locator('em').textContent(), 'hello.py');
  assert.equal(await reply.locator('p code').textContent(), 'print');
  assert.equal(await reply.locator('pre code').textContent(), 'print("Hello, world!")');
  assert.equal(await reply.locator('pre code').getAttribute('data-lang'), 'python');
  assert.deepEqual(await reply.locator('li').allTextContents(), ['保存为 hello.py', '运行 python hello.py']);
  const text = (await reply.locator('.content').textContent()) ?? '';
  assert.ok(text.includes('<script>window.__pwned = 1</script>') && text.includes('<img src=x onerror="window.__pwned = 2">'), text);
  assert.equal(await page.locator('#messages script, #messages img').count(), 0, 'no element from the reply');
  assert.equal(await page.evaluate('window.__pwned'), undefined);
  assert.deepEqual((page as unknown as { problems: string[] }).problems, []);
  await page.screenshot({ path: path.join(ARTIFACTS, 'web-chat.png'), fullPage: true });
  console.log(`# screenshot: ${path.join(ARTIFACTS, 'web-chat.png')}`);
  await page.close();
});

test('Stop ends the reply on the page and cancels the request on the server', { skip: missing }, async () => {
  scripts.push({ deltas: Array.from({ length: 100 }, (_, i) => `${i} `), delayMs: 100, finishReason: 'stop' });
  const page = await openPage();
  await sendMessage(page, 'count');
  await waitFor(async () => ((await lastReply(page).locator('.content').textContent()) ?? '').length > 4, 10_000, 'the reply to start');
  const jobId = env.h.fakeHead.jobs.at(-1)!.requestId;
  await page.locator('#stop').click();
  await idle(page);
  assert.equal(await lastReply(page).locator('.status').textContent(), 'stopped');
  await waitFor(() => env.h.fakeHead.cancelled.includes(jobId), 5000, 'the head to see the cancellation');
  assert.ok(((await lastReply(page).locator('.content').textContent()) ?? '').split(' ').length < 90, 'the reply stopped early');
  await page.close();
});

test('the conversation goes with each message until Clear history; the sliders set the parameters', { skip: missing }, async () => {
  const page = await openPage();
  const bodies: { messages: { role: string; content: string }[]; top_p: number; temperature: number; max_tokens?: number }[] = [];
  page.on('request', (r) => {
    if (r.url().endsWith('/v1/chat/completions')) bodies.push(r.postDataJSON());
  });
  const reply = 'Hello there.';
  scripts.push({ deltas: [reply], delayMs: 10, finishReason: 'stop' }, { deltas: ['Again.'], delayMs: 10, finishReason: 'stop' }, { deltas: ['Fresh.'], delayMs: 10, finishReason: 'stop' });
  await sendMessage(page, 'first');
  await idle(page);
  await page.locator('summary').click();
  await page.locator('#top-p').fill('0.5');
  await page.locator('#max-length').fill('256');
  await sendMessage(page, 'second');
  await idle(page);
  await page.locator('#clear').click();
  assert.equal(await page.locator('.message').count(), 0);
  await sendMessage(page, 'third');
  await idle(page);
  assert.equal(bodies.length, 3);
  assert.deepEqual(bodies[0]!.messages, [{ role: 'user', content: 'first' }]);
  assert.deepEqual([bodies[0]!.top_p, bodies[0]!.temperature, bodies[0]!.max_tokens], [0.7, 0.95, undefined], "the original demo's defaults; no max_tokens at the slider's top");
  assert.deepEqual(bodies[1]!.messages, [{ role: 'user', content: 'first' }, { role: 'assistant', content: reply }, { role: 'user', content: 'second' }]);
  assert.deepEqual([bodies[1]!.top_p, bodies[1]!.max_tokens], [0.5, 256]);
  assert.deepEqual(bodies[2]!.messages, [{ role: 'user', content: 'third' }], 'history cleared');
  await page.close();
});

test('on a phone-width screen nothing overflows sideways, long code scrolls inside its block', { skip: missing }, async () => {
  scripts.push({ deltas: ['A long line follows:\n', '```\n', `${'x'.repeat(300)}\n`, '```\n', `${'长'.repeat(200)}`], delayMs: 10, finishReason: 'stop' });
  const page = await openPage({ width: 390, height: 844 });
  await page.locator('#parameters summary').click();
  await sendMessage(page, 'a long reply please');
  await idle(page);
  const widths = (await page.evaluate('({ page: document.documentElement.scrollWidth, viewport: window.innerWidth })')) as { page: number; viewport: number };
  assert.ok(widths.page <= widths.viewport, `the page is ${widths.page} px wide on a ${widths.viewport} px screen`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'web-chat-phone.png'), fullPage: true });
  console.log(`# screenshot: ${path.join(ARTIFACTS, 'web-chat-phone.png')}`);
  await page.close();
});

test('with API keys on, the page asks for a key, then sends it', { skip: missing }, async () => {
  const key = 'web-page-key-0123456789';
  const h = await Harness.start(env.redisUrl, { options: { apiKeys: ApiKeys.parse(key, 'test') } });
  const page = await browser!.newPage();
  try {
    await page.goto(`${h.base}/`);
    await sendMessage(page, 'hello');
    await idle(page);
    assert.match((await lastReply(page).locator('.status').textContent()) ?? '', /needs an API key.*enter it under Parameters/);
    assert.ok(await page.locator('#parameters').evaluate((d) => (d as unknown as { open: boolean }).open), 'Parameters opened');
    await page.locator('#api-key').fill(key);
    await page.locator('#api-key').dispatchEvent('change');
    await sendMessage(page, 'hello again');
    await idle(page);
    assert.equal(await lastReply(page).locator('.content').textContent(), DEFAULT_SCRIPT.deltas.join(''));
  } finally {
    await page.close();
    await h.close();
  }
});

test('GET / serves the page only to browsers; the page\'s files carry a strict Content-Security-Policy', async () => {
  const api = await fetch(`${env.h.base}/`, { headers: { accept: 'application/json' } });
  assert.equal(api.status, 404);
  assert.match(((await api.json()) as { error: { message: string } }).error.message, /POST \/ is the api\.py endpoint/);
  const page = await fetch(`${env.h.base}/`, { headers: { accept: 'text/html,application/xhtml+xml' } });
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  assert.match(await page.text(), /<script type="module" src="\/web\/chat\.js"><\/script>/);
  for (const file of ['chat.js', 'markdown.js', 'chat.css']) assert.equal((await fetch(`${env.h.base}/web/${file}`)).status, 200, file);
  assert.equal((await fetch(`${env.h.base}/web/..%2Fapp.ts`)).status, 404);
  assert.equal((await fetch(`${env.h.base}/web/app.ts`)).status, 404);
});
