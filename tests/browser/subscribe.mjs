// Fills in the subscribe form in Debian's headless Chromium with JavaScript switched off, as
// a reader on a phone would, and submits it. Prints a JSON report; screenshots go to OUT_DIR.
//
//   node subscribe.mjs OUT_DIR FORM_URL EMAIL NAME
import { chromium } from 'playwright-core';

const [outDir, url, email, name] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let report;
try {
  const context = await browser.newContext({ viewport: { width: 375, height: 800 }, javaScriptEnabled: false });
  const page = await context.newPage();
  const response = await page.goto(url);
  const before = {
    status: response.status(),
    heading: await page.locator('h1').innerText(),
    scrollWidth: await page.evaluate(() => document.documentElement.scrollWidth),
  };
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Name').fill(name);
  await page.screenshot({ path: `${outDir}/subscribe-375.png`, fullPage: true });
  const [navigation] = await Promise.all([
    page.waitForNavigation(),
    page.getByRole('button', { name: 'Subscribe' }).click(),
  ]);
  const after = {
    status: navigation.status(),
    method: navigation.request().method(),
    heading: await page.locator('h1').innerText(),
    text: await page.locator('main').innerText(),
  };
  await page.screenshot({ path: `${outDir}/check-inbox-375.png`, fullPage: true });
  report = { before, after };
  await context.close();
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
