// Gives pg a `navigator` to look at while it loads (see pg-driver.ts for why). A module of its own,
// imported just before pg: import order is evaluation order, in ESM and in the runner's CommonJS
// bundle alike (which cannot hold a top-level await).
const scope = globalThis as { navigator?: unknown };

/** True when this module set the stand-in, which pg-driver.ts removes once pg has loaded. */
export const navigatorStandIn = scope.navigator === undefined;
if (navigatorStandIn) scope.navigator = { userAgent: 'Node.js' };
