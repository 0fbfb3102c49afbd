// Reads the archive in Debian's headless Chromium as a reader would, at a phone's width
// (390 px) and a laptop's (1280 px): the index, a click to the newest issue, a click on an
// item's anchor; axe-core checks both pages for accessibility. Then, with JavaScript
// switched off, subscribes through the form on the issue's page. Prints a JSON report;
// screenshots go to OUT_DIR.
//
//   node archive.mjs OUT_DIR INDEX_URL EMAIL
import { chromium } from 'playwright-core';
import AxeBuilder from '@axe-core/playwright';

const [outDir, indexUrl, email] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

// Serious and critical findings only, as the test's bar; the count of rules that passed
// shows axe actually ran.
async function axe(page) {
  const results = await new AxeBuilder({ page }).analyze();
  return {
    violations: results.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target) })),
    rulesPassed: results.passes.length,
  };
}

async function look(page) {
  return {
    heading: await page.locator('h1').innerText(),
    scrollWidth: await page.evaluate(() => document.documentElement.scrollWidth),
  };
}

const report = { widths: {} };
try {
  for (const width of [390, 1280]) {
    // bypassCSP: the pages forbid every script, axe's included.
    const context = await browser.newContext({ viewport: { width, height: 900 }, bypassCSP: true });
    const page = await context.newPage();
    const response = await page.goto(indexUrl);
    const index = { status: response.status(), ...(await look(page)) };
    await page.screenshot({ path: `${outDir}/index-${width}.png`, fullPage: true });
    Object.assign(index, await axe(page));

    await Promise.all([page.waitForNavigation(), page.locator('ol.issues h2 a').first().click()]);
    const issue = { url: page.url(), ...(await look(page)) };
    await page.screenshot({ path: `${outDir}/issue-${width}.png`, fullPage: true });
    Object.assign(issue, await axe(page));

    await page.locator('#item-3 a.anchor').click();
    await page.waitForFunction(() => location.hash === '#item-3');
    const anchor = await page.evaluate(() => {
      const target = document.querySelector(':target');
      const rect = target ? target.getBoundingClientRect() : null;
      return {
        hash: location.hash,
        target: target ? target.id : null,
        top: rect ? rect.top : null,
        inView: !!rect && rect.top >= 0 && rect.top < window.innerHeight,
      };
    });
    await page.screenshot({ path: `${outDir}/item-3-${width}.png` });
    report.widths[width] = { index, issue, anchor };
    await context.close();
  }

  const context = await browser.newContext({ viewport: { width: 390, height: 900 }, javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(report.widths[390].issue.url);
  await page.locator('#email').fill(email);
  await page.locator('#name').fill('A Reader');
  const [navigation] = await Promise.all([
    page.waitForNavigation(),
    page.getByRole('button', { name: 'Subscribe' }).click(),
  ]);
  report.form = {
    javaScript: false,
    method: navigation.request().method(),
    status: navigation.status(),
    heading: await page.locator('h1').innerText(),
  };
  await page.screenshot({ path: `${outDir}/subscribed-390.png`, fullPage: true });
  await context.close();
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
