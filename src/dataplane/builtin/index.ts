/** The builtin router (src/router/), run by the control plane as its own process. */
import type { DataPlaneDefinition } from '../adapter.js';

export const builtinDataPlane: DataPlaneDefinition = {
  name: 'builtin',
  comparesMirrors: true,
};
