import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestServer, testPostgres, TestClient, type TestServer } from '@myko/server/testing';
import { rshipPlugin } from '@myko/rship/server';
import { exponentNumbers, legendsOutsideCard, pageOverflow, pagerOneLine, shown, tableScrolls, tablesScrollInCard } from './layout-checks.js';
import { startClockExecutor, startDeskExecutor, startExample, startRawExecutor, oldPulseAgeMs, type Executor } from './executors.js';

/**
 * The dashboard end to end, in real headless Chromium (Debian's, never a
 * downloaded one), against a real server with the Rocketship plugin and a
 * real executor: the Banana Stand example as a child process when it is
 * built, else a small executor over a raw WebSocket that registers the same
 * stand. Screenshots go to test-artifacts/.
 */

const here = dirname(fileURLToPath(import.meta.url));
const appDir = join(here, '..', '..');
const repo = join(appDir, '..', '..');
const artifacts = join(repo, 'test-artifacts');
const chromiumPath = '/usr/bin/chromium';
const exampleMain = join(repo, 'examples', 'banana-stand', 'dist', 'main.js');

let ts: TestServer;
let browser: Browser;
let page: Page;
let http: string;
let executor: Executor;
const pageErrors: string[] = [];

/** Build the dashboard from its current sources (what `npm run build` does), so the test never runs a stale bundle. */
function buildDashboard(): void {
  const vite = join(dirname(createRequire(import.meta.url).resolve('vite/package.json')), 'bin', 'vite.js');
  const r = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], { cwd: appDir, encoding: 'utf8' });
  assert.equal(r.status, 0, `vite build failed:\n${r.stdout}\n${r.stderr}`);
  assert.ok(existsSync(join(appDir, 'dist', 'www', 'index.html')));
}

const shot = (name: string) => page.screenshot({ path: join(artifacts, `dashboard-${name}.png`), fullPage: true });

before(async () => {
  if (!existsSync(chromiumPath)) {
    if (process.env.CI === 'true') throw new Error(`${chromiumPath} is required under CI=true (.ci/run installs Debian's chromium)`);
    console.warn(`\n!!! SKIPPING dashboard browser tests: no ${chromiumPath} (apt-get install -y chromium) !!!\n`);
    return;
  }
  mkdirSync(artifacts, { recursive: true });
  buildDashboard();
  ts = await startTestServer({ plugins: [rshipPlugin()] });
  http = ts.url.replace(/^ws/, 'http').replace(/\/myko$/, '');
  // DASHBOARD_TEST_RAW_EXECUTOR=1 runs the raw-WebSocket stand even when the example is built.
  executor = existsSync(exampleMain) && process.env.DASHBOARD_TEST_RAW_EXECUTOR !== '1' ? await startExample(ts.url, exampleMain) : await startRawExecutor(ts.url);
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  page.setDefaultTimeout(8000);
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageErrors.push(msg.text());
  });
});

after(async () => {
  await browser?.close();
  await executor?.stop();
  await ts?.close();
});

const skip = () => !existsSync(chromiumPath);

test('served at / on the server port: index.html and hashed assets with their content types', { skip: skip() }, async () => {
  const index = await fetch(`${http}/`);
  assert.equal(index.status, 200);
  assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
  const html = await index.text();
  const js = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
  assert.ok(js, html);
  const asset = await fetch(`${http}${js}`);
  assert.equal(asset.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.match(asset.headers.get('cache-control')!, /immutable/);
  // App routes fall back to index.html; the server's own paths do not.
  assert.equal((await fetch(`${http}/some/app/route`)).headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal((await fetch(`${http}/health`)).headers.get('content-type'), 'application/json');
});

test('overview: health, log position, events per second, item types with live counts, connected clients', { skip: skip() }, async () => {
  await page.goto(`${http}/#/overview`);
  await page.locator('[data-testid="connection"]', { hasText: 'connected' }).waitFor();
  await page.locator('[data-testid="card-health"] .big', { hasText: 'ok' }).waitFor();
  // Target count comes from the live GetTargetsCount report.
  await page.locator('[data-testid="count-Target"]', { hasText: /^[1-9]/ }).waitFor();
  const targets = Number(await page.locator('[data-testid="count-Target"]').textContent());
  assert.equal(targets, ts.server.state.count('Target'));
  // The executor and this page are both clients.
  await waitUntil(async () => (await page.locator('[data-testid="clients"] tbody tr').count()) >= 2, 'two clients listed');
  // Pulses every 200 ms: events per second above zero, position at least what the server has.
  await waitUntil(async () => Number((await page.locator('[data-testid="events-per-second"]').textContent())?.replace(/,/g, '')) > 0, 'events/s > 0');
  const pos = Number((await page.locator('[data-testid="log-position"]').textContent())!.replace(/,/g, ''));
  assert.ok(pos > 0 && pos <= ts.server.writer.position);
  await page.locator('[data-testid="card-verify"] button').click();
  await page.locator('[data-testid="verify-status"]', { hasText: 'verified' }).waitFor({ timeout: 5000 });
  await shot('overview');
});

test('rocketship: targets in their colours, online, sub-target nested, pulses live with a chart', { skip: skip() }, async () => {
  await page.goto(`${http}/#/rship`);
  const stand = page.locator('[data-testid="target-banana-stand"]');
  await stand.and(page.locator('[data-status="online"]')).waitFor();
  const head = page.locator('[data-testid="target-head-banana-stand"]');
  assert.equal(await head.evaluate((el) => getComputedStyle(el).backgroundColor), 'rgb(255, 255, 0)');
  assert.equal(await head.evaluate((el) => getComputedStyle(el).color), 'rgb(0, 0, 0)');
  assert.equal(await page.locator('[data-testid="target-status-banana-stand"]').textContent(), 'online');
  // The cash register is drawn inside the stand, in its own colours.
  const register = stand.locator('[data-testid="target-cash-register"]');
  await register.waitFor();
  assert.equal(await register.getAttribute('data-status'), 'online');
  assert.equal(await register.locator('[data-testid="target-head-cash-register"]').evaluate((el) => getComputedStyle(el).backgroundColor), 'rgb(46, 125, 50)');
  assert.equal(await page.locator('[data-testid="instance-status-bluth-banana-stand"]').textContent(), 'Available');
  // A pulse value changes while we watch, and the chart draws it.
  const pulse = page.locator('[data-testid="pulse-banana-stand:banana-sold"]');
  await waitUntil(async () => (await pulse.textContent()) !== '—', 'a first pulse');
  const first = await pulse.textContent();
  await waitUntil(async () => (await pulse.textContent()) !== first, `the pulse value changes from ${first}`);
  await waitUntil(
    async () => ((await page.locator('[data-testid="emitter-banana-stand:banana-sold"] polyline').first().getAttribute('points')) ?? '').split(' ').length >= 3,
    'a chart with a few points',
  );
});

test('rocketship: an action form from its schema invokes ExecTargetAction and shows the answer or the error', { skip: skip() }, async () => {
  const burn = page.locator('[data-testid="action-banana-stand:burn"]');
  await burn.locator('.action-toggle').click();
  const intensity = burn.locator('input[name="intensity"]');
  assert.equal(await intensity.getAttribute('type'), 'number');
  // A payload the schema refuses: the server answers RSHIP_BAD_PAYLOAD and the executor never sees it.
  await intensity.fill('-1');
  await burn.locator('button[type="submit"]').click();
  const result = page.locator('[data-testid="action-result-banana-stand:burn"]');
  await result.and(page.locator('[data-ok="false"]')).waitFor();
  assert.match((await result.textContent())!, /RSHIP_BAD_PAYLOAD.*intensity/);
  // A good one: the executor's answer.
  await intensity.fill('3');
  await burn.locator('button[type="submit"]').click();
  await result.and(page.locator('[data-ok="true"]')).waitFor();
  const answer = JSON.parse((await result.locator('pre').textContent())!);
  assert.equal(answer.intensity, 3);
  assert.equal(answer.burning, true);
  // The executor's own error comes back: no money into a burning stand.
  const fill = page.locator('[data-testid="action-banana-stand:fill-with-money"]');
  await fill.locator('.action-toggle').click();
  await fill.locator('input[name="amount"]').fill('100');
  await fill.locator('button[type="submit"]').click();
  const fillResult = page.locator('[data-testid="action-result-banana-stand:fill-with-money"]');
  await fillResult.and(page.locator('[data-ok="false"]')).waitFor();
  assert.match((await fillResult.textContent())!, /on fire/);
  // Put the fire out so the stand sells again.
  await intensity.fill('0');
  await burn.locator('button[type="submit"]').click();
  await page.locator('[data-testid="action-result-banana-stand:burn"] pre', { hasText: '"intensity": 0' }).waitFor();
  await shot('rship');
});

test('data browser: a live table of an item type, an item with its history from the log', { skip: skip() }, async () => {
  await page.goto(`${http}/#/data/Target`);
  const row = page.locator('[data-testid="rows"] tr[data-id="banana-stand"]');
  await row.waitFor();
  assert.match((await page.locator('[data-testid="window"]').textContent())!, /^1–\d+ of \d+$/);
  await row.click();
  const detail = page.locator('[data-testid="item-detail"]');
  await detail.locator('pre.json', { hasText: '"bgColor": "#ffff00"' }).waitFor();
  await detail.locator('[data-testid="history"] li').first().waitFor();
  assert.ok((await detail.locator('[data-testid="history"] li').count()) >= 1);
  assert.match((await detail.locator('[data-testid="history"] li').first().textContent())!, /SET #\d+/);
  // Equality filter run by the server.
  await page.locator('.toolbar .filter input').nth(0).fill('id');
  await page.locator('.toolbar .filter input').nth(1).fill('cash-register');
  await page.locator('.toolbar .filter button[type="submit"]').click();
  await page.locator('[data-testid="total-count"]', { hasText: '1 matching' }).waitFor();
  assert.equal(await page.locator('[data-testid="rows"] tbody tr').count(), 1);
  await page.locator('.toolbar .filter button.link').click();
  await row.waitFor();
  await shot('data');
});

/** 1,500 widgets: ids w0000…w1499 (the live window's id order); `rank` a permutation of 0…1499 unrelated to it. */
const widgetCount = 1500;
const widgetRank = (i: number) => (i * 7919 + 500) % widgetCount;
const widgetId = (i: number) => `w${String(i).padStart(4, '0')}`;
/** Index of the widget with a given rank. */
const widgetWithRank = (rank: number) => Array.from({ length: widgetCount }, (_, i) => i).find((i) => widgetRank(i) === rank)!;

/** The data rows shown, as {id, cells by column}. */
async function shownRows(): Promise<{ id: string; cells: Record<string, string> }[]> {
  return page.locator('[data-testid="rows"]').evaluate((table) => {
    const cols = Array.from(table.querySelectorAll('thead th')).map((th) => th.getAttribute('data-col') ?? '');
    return Array.from(table.querySelectorAll('tbody tr')).map((tr) => ({
      id: tr.getAttribute('data-id') ?? '',
      cells: Object.fromEntries(Array.from(tr.querySelectorAll('td')).map((td, i) => [cols[i]!, td.textContent ?? ''])),
    }));
  });
}

const windowText = () => page.locator('[data-testid="window"]').textContent();

test('data browser over 1,500 items: paging shows the right window and count, sort is over the whole set, rows stay live', { skip: skip() }, async () => {
  const writer = await TestClient.connect(ts.url);
  try {
    const widget = (i: number, extra: Record<string, unknown> = {}) => ({
      itemType: 'Widget',
      changeType: 'SET',
      item: { id: widgetId(i), rank: widgetRank(i), name: `widget ${i}`, ...extra },
    });
    for (let i = 0; i < widgetCount; i += 250) writer.send({ event: 'ws:m:event-batch', data: Array.from({ length: 250 }, (_, k) => widget(i + k)) });
    await writer.sync();
    assert.equal(ts.server.state.count('Widget'), widgetCount);

    await page.goto(`${http}/#/data/Widget`);
    // Id order: the server's live window.
    await page.locator('[data-testid="window"]', { hasText: /^1–50 of 1,?500$/ }).waitFor();
    let rows = await shownRows();
    assert.deepEqual(rows.map((r) => r.id), Array.from({ length: 50 }, (_, i) => widgetId(i)));
    assert.match((await page.locator('[data-testid="sort-note"]').textContent())!, /id order, a live window/);
    await page.locator('[data-testid="page-next"]').click();
    await page.locator('[data-testid="window"]', { hasText: /^51–100 of 1,?500$/ }).waitFor();
    await page.locator('[data-testid="rows"] tbody tr').first().and(page.locator('[data-id="w0050"]')).waitFor();
    rows = await shownRows();
    assert.deepEqual(rows.map((r) => r.id), Array.from({ length: 50 }, (_, i) => widgetId(50 + i)));
    await page.locator('[data-testid="page-next"]').click();
    await page.locator('[data-testid="window"]', { hasText: /^101–150 of 1,?500$/ }).waitFor();
    await page.locator('[data-testid="rows"] tbody tr').first().and(page.locator('[data-id="w0100"]')).waitFor();
    await page.locator('[data-testid="page-prev"]').click();
    await page.locator('[data-testid="window"]', { hasText: /^51–100 of 1,?500$/ }).waitFor();
    await page.locator('[data-testid="rows"] tbody tr').first().and(page.locator('[data-id="w0050"]')).waitFor();
    // An item in view changes: its row follows without a reload.
    writer.send({ event: 'ws:m:event', data: widget(60, { name: 'renamed in view' }) });
    await page.locator('[data-testid="rows"] tr[data-id="w0060"]', { hasText: 'renamed in view' }).waitFor();

    // Sort by rank: the first rows are the globally lowest ranks, not the lowest of the page shown (w0050…w0099).
    await page.locator('[data-testid="rows"] th[data-col="rank"]').click();
    await page.locator('[data-testid="rows"] th[data-col="rank"][aria-sort="ascending"]').waitFor();
    await page.locator('[data-testid="window"]', { hasText: /^1–50 of 1,?500$/ }).waitFor();
    const byRank = (from: number, n: number) => Array.from({ length: n }, (_, k) => widgetId(widgetWithRank(from + k)));
    await page.locator('[data-testid="rows"] tbody tr').first().and(page.locator(`[data-id="${widgetId(widgetWithRank(0))}"]`)).waitFor();
    rows = await shownRows();
    assert.deepEqual(rows.map((r) => r.id), byRank(0, 50));
    assert.deepEqual(rows.slice(0, 3).map((r) => r.cells.rank), ['0', '1', '2']);
    assert.match((await page.locator('[data-testid="sort-note"]').textContent())!, /sorted by rank ascending over all 1,?500 items by the server/);
    await page.locator('[data-testid="page-next"]').click();
    await page.locator('[data-testid="window"]', { hasText: /^51–100 of 1,?500$/ }).waitFor();
    await page.locator('[data-testid="rows"] tbody tr').first().and(page.locator(`[data-id="${widgetId(widgetWithRank(50))}"]`)).waitFor();
    assert.deepEqual((await shownRows()).map((r) => r.id), byRank(50, 50));
    // Descending: the highest rank of all first, back on the first page.
    await page.locator('[data-testid="rows"] th[data-col="rank"]').click();
    await page.locator('[data-testid="window"]', { hasText: /^1–50 of 1,?500$/ }).waitFor();
    await page.locator('[data-testid="rows"] tbody tr').first().and(page.locator(`[data-id="${widgetId(widgetWithRank(1499))}"]`)).waitFor();
    assert.deepEqual((await shownRows()).map((r) => r.id), byRank(1450, 50).reverse());
    await shot('data-sorted');

    // Live while sorted: an item in view changes in place; an item from far away moves to the top; a new one counts.
    const top = widgetWithRank(1499);
    writer.send({ event: 'ws:m:event', data: widget(top, { name: 'top, renamed' }) });
    await page.locator(`[data-testid="rows"] tr[data-id="${widgetId(top)}"]`, { hasText: 'top, renamed' }).waitFor();
    const low = widgetWithRank(3);
    writer.send({ event: 'ws:m:event', data: { itemType: 'Widget', changeType: 'SET', item: { id: widgetId(low), rank: 9999, name: 'promoted' } } });
    await page.locator('[data-testid="rows"] tbody tr').first().and(page.locator(`[data-id="${widgetId(low)}"]`)).waitFor();
    writer.send({ event: 'ws:m:event', data: { itemType: 'Widget', changeType: 'SET', item: { id: 'w9999', rank: 5000, name: 'new' } } });
    await page.locator('[data-testid="window"]', { hasText: /^1–50 of 1,?501$/ }).waitFor();
    rows = await shownRows();
    assert.deepEqual(rows.slice(0, 3).map((r) => r.id), [widgetId(low), 'w9999', widgetId(top)]);
    // Back to id order: the live window again.
    await page.locator('[data-testid="rows"] th[data-col="id"]').click(); // id ascending
    await page.locator('[data-testid="rows"] th[data-col="id"][aria-sort="ascending"]').waitFor();
    await page.locator('[data-testid="rows"] tbody tr').first().and(page.locator('[data-id="w0000"]')).waitFor();
    assert.match((await windowText())!, /^1–50 of 1,?501$/);
  } finally {
    await writer.close();
  }
});

test('overview: item-type counts follow writes live, and a new type appears with its count', { skip: skip() }, async () => {
  const writer = await TestClient.connect(ts.url);
  try {
    await page.goto(`${http}/#/overview`);
    const count = page.locator('[data-testid="count-Widget"]');
    const before = ts.server.state.count('Widget');
    await count.and(page.locator(`:text-is("${before.toLocaleString('en-US')}")`)).waitFor();
    writer.send({
      event: 'ws:m:event-batch',
      data: Array.from({ length: 25 }, (_, i) => ({ itemType: 'Widget', changeType: 'SET', item: { id: `x${i}`, rank: -i } })),
    });
    await count.and(page.locator(`:text-is("${(before + 25).toLocaleString('en-US')}")`)).waitFor();
    writer.send({ event: 'ws:m:event', data: { itemType: 'Widget', changeType: 'DEL', item: { id: 'x0' } } });
    await count.and(page.locator(`:text-is("${(before + 24).toLocaleString('en-US')}")`)).waitFor();
    // A type nobody has written yet shows up, then counts on.
    assert.equal(await page.locator('[data-testid="count-Gizmo"]').count(), 0);
    writer.send({ event: 'ws:m:event-batch', data: ['g1', 'g2'].map((id) => ({ itemType: 'Gizmo', changeType: 'SET', item: { id } })) });
    await page.locator('[data-testid="count-Gizmo"]', { hasText: /^2$/ }).waitFor();
    writer.send({ event: 'ws:m:event', data: { itemType: 'Gizmo', changeType: 'SET', item: { id: 'g3' } } });
    await page.locator('[data-testid="count-Gizmo"]', { hasText: /^3$/ }).waitFor();
    await shot('overview-counts');
  } finally {
    await writer.close();
  }
});

test('rocketship: a form from a schema held in a string, with enum (select), boolean (checkbox), string and integer fields', { skip: skip() }, async () => {
  const desk = await startDeskExecutor(ts.url);
  try {
    await page.goto(`${http}/#/rship`);
    await page.locator('[data-testid="target-control-desk"][data-status="online"]').waitFor();
    const action = page.locator('[data-testid="action-control-desk:configure"]');
    await action.locator('.action-toggle').click();
    const form = action.locator('form.schema-form');
    assert.equal(await form.getAttribute('data-raw'), 'false', 'the string was read as a schema: a form, not the raw JSON editor');
    const mode = form.locator('select[name="mode"]');
    assert.deepEqual(await mode.locator('option').allTextContents(), ['choose…', 'calm', 'panic', 'off']);
    assert.equal(await form.locator('input[name="loud"]').getAttribute('type'), 'checkbox');
    assert.equal(await form.locator('input[name="note"]').getAttribute('type'), 'text');
    assert.equal(await form.locator('input[name="level"]').getAttribute('type'), 'number');
    const result = page.locator('[data-testid="action-result-control-desk:configure"]');
    const answer = async () => JSON.parse((await result.locator('pre').textContent())!) as { received: unknown };

    await mode.selectOption({ label: 'panic' });
    await form.locator('input[name="loud"]').check();
    await form.locator('input[name="note"]').fill('there is always money');
    await form.locator('input[name="level"]').fill('7');
    await form.locator('button[type="submit"]').click();
    await result.and(page.locator('[data-ok="true"]')).waitFor();
    await result.locator('pre', { hasText: 'panic' }).waitFor();
    assert.deepEqual((await answer()).received, { mode: 'panic', loud: true, note: 'there is always money', level: 7 });
    await shot('rship-form');

    // Unchecked is false (not left out); an emptied text field is left out; the enum value changes.
    await mode.selectOption({ label: 'calm' });
    await form.locator('input[name="loud"]').uncheck();
    await form.locator('input[name="note"]').fill('');
    await form.locator('button[type="submit"]').click();
    await result.locator('pre', { hasText: 'calm' }).waitFor();
    assert.deepEqual((await answer()).received, { mode: 'calm', loud: false, level: 7 });

    // The server checks the payload against the schema in the string: a level below its minimum is refused by name.
    await form.locator('input[name="level"]').fill('-2');
    await form.locator('button[type="submit"]').click();
    await result.and(page.locator('[data-ok="false"]')).waitFor();
    assert.match((await result.textContent())!, /RSHIP_BAD_PAYLOAD.*level/);
  } finally {
    await desk.stop();
  }
});

test('live events: the stream shows pulses and writes, pause freezes the view, resume catches up', { skip: skip() }, async () => {
  await page.goto(`${http}/#/events`);
  const rows = page.locator('[data-testid="event-stream"] tbody tr');
  await rows.first().waitFor();
  await page.locator('[data-testid="event-stream"] tr[data-type="Pulse"]').first().waitFor();
  await page.locator('[data-testid="pause"]').click();
  const frozen = await rows.first().textContent();
  await sleepMs(800);
  assert.equal(await rows.first().textContent(), frozen, 'paused: the newest row stays');
  assert.match((await page.locator('[data-testid="pause"]').textContent())!, /Resume \(\d+ new\)/);
  await shot('events-paused');
  await page.locator('[data-testid="pause"]').click();
  await waitUntil(async () => (await rows.first().textContent()) !== frozen, 'resumed: newer rows');
});

/** The pages a person opens, at each width the layout test checks. */
const widths = [1280, 420] as const;

test('readable at 1280 and 420 px: no page wider than the window, tables scroll inside their card, one-line pager, the type list collapses, times not exponents, chart labels inside their card', { skip: skip() }, async () => {
  const clock = await startClockExecutor(ts.url);
  const writer = await TestClient.connect(ts.url);
  try {
    // Readings with an epoch-ms time and wide text: a table wider than a phone.
    const readingAt = Date.UTC(2026, 0, 2, 3, 4, 5);
    writer.send({
      event: 'ws:m:event-batch',
      data: Array.from({ length: 60 }, (_, i) => ({
        itemType: 'Reading',
        changeType: 'SET',
        item: { id: `r${String(i).padStart(2, '0')}`, sensor: `freezer-compressor-sensor-${i}`, celsius: -18 - i / 10, readAt: readingAt + i * 1000, lapTime: 93, serial: 1_800_000_000_000 + i, note: 'a note long enough to make the row wider than a phone' },
      })),
    });
    await writer.sync();
    const problems: string[] = [];
    const note = (width: number, where: string, list: string[]) => problems.push(...list.map((p) => `${width}px ${where}: ${p}`));
    for (const width of widths) {
      await page.setViewportSize({ width, height: 900 });

      await page.goto(`${http}/#/overview`);
      await page.locator('[data-testid="clients"] tbody tr').first().waitFor();
      note(width, 'overview', await pageOverflow(page));
      note(width, 'overview', await tablesScrollInCard(page));
      note(width, 'overview', await legendsOutsideCard(page));
      await shot(`layout-overview-${width}`);

      await page.goto(`${http}/#/rship`);
      await page.locator('[data-testid="emitter-clock:gauges"] .spark-legend span').first().waitFor();
      await page.locator('[data-testid="emitter-banana-stand:banana-sold"] polyline').first().waitFor();
      note(width, 'rocketship', await pageOverflow(page));
      note(width, 'rocketship', await legendsOutsideCard(page));
      note(width, 'rocketship', (await exponentNumbers(page)).map((n) => `${n} in the text`));
      // The epoch-ms field of the old pulse's data reads as a time (HH:MM:SS today, else YYYY-MM-DD HH:MM:SS).
      const oldValue = (await page.locator('[data-testid="pulse-clock:old"]').textContent()) ?? '';
      if (!/startedAt (\d{4}-\d{2}-\d{2} )?\d{2}:\d{2}:\d{2}\b/.test(oldValue)) problems.push(`${width}px rocketship: startedAt is not shown as a time: ${oldValue}`);
      await shot(`layout-rship-${width}`);

      await page.goto(`${http}/#/data/Reading/r03`);
      await page.locator('[data-testid="rows"] tr[data-id="r03"]').waitFor();
      await page.locator('[data-testid="item-detail"] [data-testid="history"] li').first().waitFor();
      note(width, 'data', await pageOverflow(page));
      note(width, 'data', await tablesScrollInCard(page));
      note(width, 'data', await pagerOneLine(page));
      note(width, 'data', (await exponentNumbers(page)).map((n) => `${n} in the text`));
      const readAt = (await shownRows()).find((r) => r.id === 'r03')?.cells.readAt ?? '';
      if (!/^(\d{4}-\d{2}-\d{2} )?\d{2}:\d{2}:\d{2}$/.test(readAt)) problems.push(`${width}px data: readAt is not shown as a time: "${readAt}"`);
      // Not every number is a time: a plausible epoch value without a time name, and a time name with an implausible value.
      const r03 = (await shownRows()).find((r) => r.id === 'r03')?.cells ?? {};
      if ((r03.serial ?? '').replace(/\D/g, '') !== '1800000000003') problems.push(`${width}px data: serial is not shown as a plain number: "${r03.serial}"`);
      if (r03.lapTime !== '93') problems.push(`${width}px data: lapTime is not shown as a plain number: "${r03.lapTime}"`);
      // Wide screens list the types; narrow ones give a select instead.
      const [list, select] = [await shown(page, '[data-testid="type-list"]'), await shown(page, '[data-testid="type-select"]')];
      if (width === 420 && (list || !select)) problems.push(`420px data: the type list is not collapsed into a select (list shown ${list}, select shown ${select})`);
      if (width === 1280 && (!list || select)) problems.push(`1280px data: the type list is not shown as a list (list shown ${list}, select shown ${select})`);
      if (width === 420 && !(await tableScrolls(page, 'rows'))) problems.push('420px data: the wide table does not scroll inside its box');
      await shot(`layout-data-${width}`);
      if (width === 420 && select) {
        // The select navigates like the list.
        await page.locator('[data-testid="type-select"]').selectOption('Target');
        await page.locator('[data-testid="rows"] tr[data-id="banana-stand"]').waitFor();
      }

      await page.goto(`${http}/#/events`);
      await page.locator('[data-testid="event-stream"] tbody tr').first().waitFor();
      note(width, 'events', await pageOverflow(page));
      note(width, 'events', await tablesScrollInCard(page));
      await shot(`layout-events-${width}`);
    }
    assert.deepEqual(problems, []);
  } finally {
    await page.setViewportSize({ width: 1440, height: 1000 });
    await writer.close();
    await clock.stop();
  }
});

test('pulse age from the pulse\'s own time: 10 minutes old reads "10m ago" on first load, also with the browser\'s clock 7 minutes ahead; without a timestamp, the server\'s commit time', { skip: skip() }, async () => {
  const clock = await startClockExecutor(ts.url);
  const age = (id: string, text: RegExp) => page.locator(`[data-testid="emitter-${id}"] .emitter-head`, { hasText: text });
  try {
    // Let the timestamp-less pulse get a few seconds old before the page opens.
    await sleepMs(2500);
    await page.goto('about:blank'); // a first load, not a hash change within an open page
    await page.goto(`${http}/#/rship`);
    await age('clock:old', new RegExp(`1 pulse · ${oldPulseAgeMs / 60_000}m ago$`)).waitFor();
    // Not the moment the page received it: the server's commit time, at least the 2.5 s waited.
    await age('clock:plain', /1 pulse · ([2-9]|[1-5]\d)s ago$/).waitFor();

    // A browser whose clock is 7 minutes ahead of the server: ages still count on the server's clock.
    const skewed = await browser.newPage({ viewport: { width: 420, height: 900 } });
    try {
      skewed.setDefaultTimeout(8000);
      await skewed.clock.install({ time: Date.now() + 7 * 60_000 });
      await skewed.goto(`${http}/#/rship`);
      await skewed.locator('[data-testid="emitter-clock:old"] .emitter-head', { hasText: /10m ago$/ }).waitFor();
      await skewed.locator('[data-testid="emitter-clock:plain"] .emitter-head', { hasText: /1 pulse · ([2-9]|[1-5]\d)s ago$/ }).waitFor();
      await skewed.screenshot({ path: join(artifacts, 'dashboard-pulse-age-skewed-420.png'), fullPage: true });
    } finally {
      await skewed.close();
    }
    await shot('pulse-age');
  } finally {
    await clock.stop();
  }
});

test('stop the executor: its targets go offline and its instance Unavailable', { skip: skip() }, async () => {
  await page.goto(`${http}/#/rship`);
  await page.locator('[data-testid="target-banana-stand"][data-status="online"]').waitFor();
  await executor.stop();
  await page.locator('[data-testid="target-banana-stand"][data-status="offline"]').waitFor({ timeout: 3000 });
  await page.locator('[data-testid="target-cash-register"][data-status="offline"]').waitFor({ timeout: 3000 });
  assert.equal(await page.locator('[data-testid="target-status-banana-stand"]').textContent(), 'offline');
  await page.locator('[data-testid="instance-status-bluth-banana-stand"]', { hasText: 'Unavailable' }).waitFor({ timeout: 3000 });
  // The colours stay (dimmed), so the stand is still recognisable.
  assert.equal(await page.locator('[data-testid="target-head-banana-stand"]').evaluate((el) => getComputedStyle(el).backgroundColor), 'rgb(255, 255, 0)');
  await shot('rship-offline');
  assert.deepEqual(pageErrors, [], 'no errors in the page');
});

test('against a cluster member (PostgreSQL): the same dashboard, with the members listed', { skip: skip() }, async (t) => {
  const db = await testPostgres();
  if (!db) return t.skip('no PostgreSQL');
  const member = await startTestServer({ plugins: [rshipPlugin()], config: { postgresUrl: db.url, postgresSchema: db.schema } });
  try {
    const base = member.url.replace(/^ws/, 'http').replace(/\/myko$/, '');
    await page.goto(`${base}/#/overview`);
    await page.locator('[data-testid="connection"]', { hasText: 'connected' }).waitFor();
    await page.locator('[data-testid="card-log"]', { hasText: 'postgres (cluster member)' }).waitFor();
    await page.locator('[data-testid="card-health"] .big', { hasText: 'ok' }).waitFor();
    await page.locator('[data-testid="servers"] tbody tr', { hasText: 'this one' }).waitFor();
    await page.locator('[data-testid="count-Client"]', { hasText: '1' }).waitFor();
    await shot('cluster-overview');
    await page.goto(`${base}/#/data/Server`);
    await page.locator(`[data-testid="rows"] tr[data-id="${member.server.serverId}"]`).click();
    await page.locator('[data-testid="history"] li').first().waitFor();
  } finally {
    await page.goto('about:blank'); // leave before the member stops, or its cut streams show as page errors
    await member.close();
    await db.drop();
  }
  assert.deepEqual(pageErrors, [], 'no errors in the page');
});

const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    if (await check()) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleepMs(50);
  }
}
