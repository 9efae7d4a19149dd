/** nginx as a data plane: `traffic.router: nginx`, settings in `traffic.nginx`. */
import type { DataPlaneDefinition } from '../adapter.js';
import { NginxDataPlane } from './data-plane.js';
import { DEFAULT_NGINX_SETTINGS } from './settings.js';
import { nginxNameProblem, nginxSettings } from './spec.js';

export const nginxDataPlane: DataPlaneDefinition = {
  name: 'nginx',
  settings: nginxSettings,
  defaultSettings: DEFAULT_NGINX_SETTINGS,
  checkTraffic: (traffic) => nginxNameProblem(traffic as Parameters<typeof nginxNameProblem>[0]),
  // nginx copies requests (mirror) but never sees the copy's answer.
  comparesMirrors: false,
  open: ({ stateDir, log }) => {
    const plane = new NginxDataPlane(stateDir, log);
    plane.adopt();
    return plane;
  },
};
