// Bundles the dashboard (web/) into dist/ui: index.html, assets/app.js, assets/app.css
// (uPlot's CSS included). Prints the gzip size and fails when the bundle is over 250 KB
// gzip. Nothing in it is fetched from elsewhere at run time.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const LIMIT = 250 * 1024;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'ui');
const assets = join(out, 'assets');

rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

const result = await build({
  absWorkingDir: root,
  entryPoints: { app: 'web/src/main.tsx' },
  outdir: assets,
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022', 'chrome110', 'firefox115', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  tsconfig: 'web/tsconfig.json',
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
  define: { 'process.env.NODE_ENV': '"production"' },
});
if (result.errors.length > 0) process.exit(1);

writeFileSync(join(out, 'index.html'), readFileSync(join(root, 'web', 'index.html'), 'utf8'));

const files = ['index.html', 'assets/app.js', 'assets/app.css'];
let total = 0;
const parts = files.map((f) => {
  const bytes = readFileSync(join(out, f));
  const gz = gzipSync(bytes, { level: 9 }).length;
  total += gz;
  return `${f} ${(bytes.length / 1024).toFixed(1)} KB (${(gz / 1024).toFixed(1)} KB gzip)`;
});
console.log(`dashboard: ${parts.join(', ')}; total ${(total / 1024).toFixed(1)} KB gzip (limit ${LIMIT / 1024} KB)`);
if (total > LIMIT) {
  console.error(
    `error: the dashboard bundle is ${(total / 1024).toFixed(1)} KB gzip, over the ${LIMIT / 1024} KB limit — see what grew with esbuild's metafile`,
  );
  process.exit(1);
}
