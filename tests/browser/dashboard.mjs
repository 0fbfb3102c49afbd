// An operator in Debian's headless Chromium: signs in with the keyboard only, has a
// forged form refused, pauses a running send by keyboard and resumes it by mouse while
// `mailroom serve`'s worker delivers, then visits every dashboard page with axe-core and
// takes screenshots. The pages run with their real Content-Security-Policy; any violation
// is reported. Prints a JSON report; screenshots go to OUT_DIR.
//
//   node dashboard.mjs OUT_DIR BASE_URL OPERATOR PASSWORD
import { chromium } from 'playwright-core';
import AxeBuilder from '@axe-core/playwright';

const [outDir, base, operator, password] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

// The issue page frames the email itself (its own accessibility is the templates' and
// the archive test's business) in a sandbox where no script may run, axe's included.
async function axe(page) {
  const results = await new AxeBuilder({ page }).exclude('iframe[sandbox]').analyze();
  return {
    violations: results.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target) })),
    rulesPassed: results.passes.length,
  };
}

// Presses Tab until the element with `id` has focus; the number of presses, or -1.
async function tabTo(page, id, limit) {
  for (let i = 1; i <= limit; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((id) => document.activeElement && document.activeElement.id === id, id)) return i;
  }
  return -1;
}

async function progress(page) {
  return page.evaluate(async (url) => (await fetch(url, { cache: 'no-store' })).json(), `${base}/admin/sends/210/progress.json`);
}

// Polls `check` (which returns a value or null) until it gives a value: no fixed waits.
async function until(what, check, seconds = 60) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const report = { pages: {}, cspViolations: [] };
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
page.on('console', (m) => {
  if (m.type() === 'error' && /Content[- ]Security[- ]Policy/i.test(m.text())) report.cspViolations.push(m.text());
});
try {
  // Keyboard only: Tab to the name, type, Tab to the password, Enter.
  await page.goto(`${base}/admin/sends/210`);
  const tabsToName = await tabTo(page, 'name', 5);
  await page.keyboard.type(operator);
  await page.keyboard.press('Tab');
  await page.keyboard.type(password);
  await Promise.all([page.waitForURL(`${base}/admin/sends/210`), page.keyboard.press('Enter')]);
  report.keyboard = { tabsToName, signedIn: (await page.locator('h1').innerText()) === 'Send of issue #210' };

  // A forged form: its token replaced, as a page elsewhere would have to guess it.
  await page.locator('form[action$="/pause"] input[name="csrf"]').evaluate((el) => { el.value = 'forged'; });
  const [refused] = await Promise.all([page.waitForNavigation(), page.locator('#pause').click()]);
  report.csrf = {
    status: refused.status(),
    heading: await page.locator('h1').innerText(),
    sendStatusAfter: (await progress(page)).status,
  };
  await page.screenshot({ path: `${outDir}/csrf-refused.png` });

  // Pause by keyboard once a few messages went out.
  await page.goto(`${base}/admin/sends/210`);
  await until('a few messages sent', async () => (await progress(page)).sent >= 3);
  const tabsToPause = await tabTo(page, 'pause', 40);
  report.keyboard.pauseReached = tabsToPause > 0;
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  await until('the page to show paused', async () => (await page.locator('#status').innerText()) === 'paused');
  const paused = await progress(page);
  report.paused = { status: paused.status, sent: paused.sent, remaining: paused.remaining };
  await page.screenshot({ path: `${outDir}/send-paused.png`, fullPage: true });

  // Resume by mouse; the page follows the send to its end by itself.
  await Promise.all([page.waitForNavigation(), page.locator('#resume').click()]);
  await until('the send to finish', async () => {
    const status = await page.locator('#status').innerText().catch(() => '');
    return status === 'done';
  }, 90);
  const done = await progress(page);
  report.resumed = { status: done.status, sent: done.sent };

  const subscriberHref = async () => {
    await page.goto(`${base}/admin/subscribers`);
    return page.locator('table a').first().getAttribute('href');
  };
  const pages = {
    overview: '/admin',
    issues: '/admin/issues',
    issue: '/admin/issues/210',
    send: '/admin/sends/210',
    subscribers: '/admin/subscribers',
    subscriber: await subscriberHref(),
    import: '/admin/subscribers/import',
    bounces: '/admin/bounces',
    setup: '/admin/setup',
  };
  for (const [name, path] of Object.entries(pages)) {
    const response = await page.goto(`${base}${path}`);
    await page.waitForLoadState('load');
    const charts = await page.locator('svg[role="img"]').evaluateAll((svgs) => svgs.map((svg) => ({
      title: svg.querySelector('title') ? svg.querySelector('title').textContent : null,
      width: svg.getBoundingClientRect().width,
      texts: svg.querySelectorAll('text').length,
    })));
    await page.screenshot({ path: `${outDir}/${name}.png`, fullPage: true });
    report.pages[name] = { status: response.status(), charts, ...(await axe(page)) };
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
