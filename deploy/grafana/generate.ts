/** Writes deploy/grafana/faultline.json from dashboard.ts: `npm run dashboard`. */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dashboard } from './dashboard.js';

const out = fileURLToPath(new URL('../../../../deploy/grafana/faultline.json', import.meta.url) /* from build/grafana-js/deploy/grafana */);
writeFileSync(out, `${JSON.stringify(dashboard(), null, 2)}\n`);
console.log(`wrote ${out}`);
