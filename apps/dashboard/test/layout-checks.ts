import type { Page } from 'playwright-core';

/**
 * What a person at a given window width would see wrong, measured in the
 * page: each returns a list of problems (empty when fine), so an assertion
 * failure names them all.
 */

/** The document is no wider than the window (nothing to scroll sideways but tables, inside their cards). */
export function pageOverflow(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const sw = document.documentElement.scrollWidth;
    return sw > window.innerWidth ? [`the page is ${sw}px wide in a ${window.innerWidth}px window`] : [];
  });
}

/** Every data table sits in a box that scrolls sideways (overflow-x auto/scroll) and that box stays inside the window. */
export function tablesScrollInCard(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = [];
    for (const table of Array.from(document.querySelectorAll<HTMLElement>('table.grid'))) {
      const name = table.getAttribute('data-testid') ?? table.className;
      let box = table.parentElement;
      while (box && !['auto', 'scroll'].includes(getComputedStyle(box).overflowX)) box = box.parentElement;
      if (!box || box === document.body || box === document.documentElement) {
        out.push(`table ${name} has no scrolling box of its own`);
        continue;
      }
      const r = box.getBoundingClientRect();
      if (r.left < -0.5 || r.right > window.innerWidth + 0.5) out.push(`the box of table ${name} spans ${Math.round(r.left)}–${Math.round(r.right)}px in a ${window.innerWidth}px window`);
    }
    return out;
  });
}

/** The table's box scrolls: its content is wider than the box (a wide table on a narrow screen). */
export function tableScrolls(page: Page, testid: string): Promise<boolean> {
  return page.evaluate((id) => {
    const table = document.querySelector(`[data-testid="${id}"]`);
    let box = table?.parentElement ?? null;
    while (box && !['auto', 'scroll'].includes(getComputedStyle(box).overflowX)) box = box.parentElement;
    return !!box && box !== document.documentElement && box.scrollWidth > box.clientWidth;
  }, testid);
}

/** The Data page's pager is one line: its controls share a row and "1–50 of 1,500" does not wrap. */
export function pagerOneLine(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const pager = document.querySelector<HTMLElement>('.pager');
    const win = document.querySelector<HTMLElement>('[data-testid="window"]');
    if (!pager || !win) return ['no pager'];
    const out: string[] = [];
    const tops = Array.from(pager.children).map((c) => c.getBoundingClientRect().top);
    if (Math.max(...tops) - Math.min(...tops) > 8) out.push(`the pager's controls are on several rows (tops ${tops.map(Math.round).join(', ')})`);
    const lineHeight = parseFloat(getComputedStyle(win).lineHeight) || parseFloat(getComputedStyle(win).fontSize) * 1.4;
    const h = win.getBoundingClientRect().height;
    if (h > lineHeight * 1.5) out.push(`"${win.textContent}" is ${Math.round(h)}px high, more than one ${Math.round(lineHeight)}px line`);
    const r = pager.getBoundingClientRect();
    if (r.right > window.innerWidth + 0.5) out.push(`the pager ends at ${Math.round(r.right)}px in a ${window.innerWidth}px window`);
    return out;
  });
}

/** Whether an element is shown (has a box). */
export function shown(page: Page, selector: string): Promise<boolean> {
  return page.evaluate((sel) => {
    const el = document.querySelector<HTMLElement>(sel);
    return !!el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  }, selector);
}

/** Numbers written in exponent form (`1.80e+12`) anywhere in the page's text. */
export function exponentNumbers(page: Page): Promise<string[]> {
  return page.evaluate(() => document.body.innerText.match(/\d\.\d+e[+-]\d+/gi) ?? []);
}

/** Chart legends whose labels leave their card (a Rocketship target), or are cut to nothing. */
export function legendsOutsideCard(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = [];
    for (const legend of Array.from(document.querySelectorAll<HTMLElement>('.spark-legend'))) {
      const card = legend.closest('.target') ?? legend.closest('.card');
      if (!card) continue;
      const c = card.getBoundingClientRect();
      for (const label of Array.from(legend.children)) {
        const r = label.getBoundingClientRect();
        if (r.left < c.left - 0.5 || r.right > c.right + 0.5 || r.top < c.top - 0.5 || r.bottom > c.bottom + 0.5)
          out.push(`"${label.textContent}" at ${Math.round(r.left)}–${Math.round(r.right)}px, its card ${Math.round(c.left)}–${Math.round(c.right)}px`);
        // Cut with an ellipsis is fine; cut to a stub is not.
        else if (label.scrollWidth > label.clientWidth + 1 && r.width < 24) out.push(`"${label.textContent}" is cut to ${Math.round(r.width)}px`);
      }
    }
    return out;
  });
}
