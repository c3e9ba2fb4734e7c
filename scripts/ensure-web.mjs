// `npm start` on a fresh clone: builds the web UI once when web/dist is missing. Without the
// build tools (a production install without dev dependencies) the API runs and `/` says how to build.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
if (!existsSync(`${root}web/dist/index.html`)) {
  const vite = `${root}node_modules/vite/bin/vite.js`;
  if (!existsSync(vite)) {
    console.warn('deskhook: the web UI is not built and vite is not installed (npm install, then npm run build); starting with the API only');
  } else {
    console.log('deskhook: building the web UI (once) …');
    const r = spawnSync(process.execPath, [vite, 'build', '--config', 'web/vite.config.ts', '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) console.warn('deskhook: building the web UI failed; starting with the API only');
  }
}
