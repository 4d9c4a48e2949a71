// The filter child: the program a body-filter pool runs as each of its processes. It speaks the package's own
// protocol (serveTransform) and runs the user's filter once per response, with filters started ahead, so the
// server never forks per response: the forks happen here, on other cores.
import { serveTransform } from '../child/index.ts';
import { GroupWatchdog } from '../shared/watchdog.ts';
import { NO_REQUEST_URL, readFilterConfig } from './config.ts';
import { getSpawnSettings } from './filter-process.ts';
import { filterResponse } from './run-filter.ts';
import { Spares } from './spares.ts';

const config = readFilterConfig(process.env);
// The filters lead groups of their own: when this child dies, however it dies, its watchdog kills them.
const watchdog = GroupWatchdog.start();
const settings = getSpawnSettings(config, watchdog);
const spares = new Spares(settings);

await serveTransform(async function filter(response, { request }) {
  const given = config.context && request.url !== NO_REQUEST_URL ? request : undefined;
  return filterResponse(response, given, settings, spares);
});
spares.end('close');
watchdog.close();
