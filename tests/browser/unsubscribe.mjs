// Opens unsubscribe links in Debian's headless Chromium as a subscriber would: once on a
// 375 px phone and once at 1024 px, clicking the button each time. Prints a JSON report;
// screenshots go to OUT_DIR.
//
//   node unsubscribe.mjs OUT_DIR URL_FOR_PHONE URL_FOR_DESKTOP
import { chromium } from 'playwright-core';

const [outDir, ...urls] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const report = [];
try {
  for (const [width, url] of [[375, urls[0]], [1024, urls[1]]]) {
    const context = await browser.newContext({ viewport: { width, height: 800 }, javaScriptEnabled: false });
    const page = await context.newPage();
    const response = await page.goto(url);
    const layout = async () => page.evaluate(() => ({
      innerWidth: window.innerWidth,
      scrollWidth: document.documentElement.scrollWidth,
    }));
    const before = {
      status: response.status(),
      heading: await page.locator('h1').innerText(),
      text: await page.locator('main').innerText(),
      layout: await layout(),
    };
    await page.screenshot({ path: `${outDir}/unsubscribe-${width}.png`, fullPage: true });
    const [navigation] = await Promise.all([
      page.waitForNavigation(),
      page.getByRole('button', { name: 'Unsubscribe' }).click(),
    ]);
    const after = {
      status: navigation.status(),
      method: navigation.request().method(),
      heading: await page.locator('h1').innerText(),
      text: await page.locator('main').innerText(),
      mistakeButton: await page.getByRole('button', { name: 'I unsubscribed by mistake' }).count(),
      layout: await layout(),
    };
    await page.screenshot({ path: `${outDir}/unsubscribed-${width}.png`, fullPage: true });
    report.push({ width, before, after });
    await context.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
