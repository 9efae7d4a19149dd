/**
 * The dashboard's files (issue 16), built by `npm install` / `npm run build`
 * (scripts/build-ui.mjs) into dist/ui/ and read once into memory: index.html at `/`, the
 * bundle at `/assets/<file>`. Nothing is fetched at run time; without a build, `/` says how
 * to make one.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/src/api/ui.js → dist/ui/ */
export const UI_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json; charset=utf-8',
};

/** Every page and asset: only this origin's scripts and styles, never framed, nothing sniffed. */
export const UI_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

export interface UiFile {
  body: Buffer;
  type: string;
}

export class UiFiles {
  private files: Map<string, UiFile> | undefined;

  constructor(private readonly dir: string = UI_DIR) {}

  /** index.html, or undefined when the dashboard was not built. */
  index(): UiFile | undefined {
    return this.load().get('index.html');
  }

  /** An asset by its file name (no paths: `/assets/app.js` → `app.js`). */
  asset(name: string): UiFile | undefined {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) return undefined;
    return this.load().get(`assets/${name}`);
  }

  private load(): Map<string, UiFile> {
    if (this.files !== undefined) return this.files;
    const files = new Map<string, UiFile>();
    const read = (rel: string) => {
      const type = TYPES[extname(rel)];
      if (type !== undefined) files.set(rel, { body: readFileSync(join(this.dir, rel)), type });
    };
    try {
      read('index.html');
      for (const name of readdirSync(join(this.dir, 'assets'))) read(`assets/${name}`);
    } catch {
      // Not built (or half built): `/` answers the not-built page; tried again next time.
      return files;
    }
    this.files = files;
    return files;
  }
}

/** What `/` answers when dist/ui/ is missing. */
export const NOT_BUILT_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>sluice</title></head>
<body><h1>The sluice dashboard is not built</h1><p>Run <code>npm run build</code> in the sluice folder (it builds the dashboard into dist/ui/), then reload this page. The API works without it.</p></body></html>`;
