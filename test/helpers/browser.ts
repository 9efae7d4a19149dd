/**
 * Debian's Chromium driven by playwright-core for the dashboard's browser tests (issue 16):
 * never a downloaded browser. Missing on a developer machine: the test is skipped with a loud
 * message; in CI (CI=true) it fails, because .ci/run installs it.
 */
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.SLUICE_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

/** The browser, or undefined (test skipped loudly) when Chromium is missing outside CI. */
export async function launchOrSkip(t: TestContext): Promise<Browser | undefined> {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium for the browser tests`);
    const why = `SKIPPED: ${CHROMIUM} is missing — install Debian's chromium (apt-get install chromium) to run the dashboard's browser tests`;
    console.error(`\n*** ${why} ***\n`);
    t.skip(why);
    return undefined;
  }
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

/** Signs in through the page's form with `token`; resolves once the header shows the user. */
export async function signIn(page: Page, base: string, token: string, hash = '#/'): Promise<void> {
  await page.goto(`${base}/${hash}`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('user').waitFor({ timeout: 15_000 });
}
