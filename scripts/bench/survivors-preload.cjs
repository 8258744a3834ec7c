// `--heap-survivors DIR`: loaded into the api-gateway and the router-worker with `-r`. After a start-up delay it
// runs V8's sampling heap profiler over a window, keeping the objects that a scavenge did not free: those still
// alive at the end and those a later full GC collected (the middle-aged garbage that every scavenge copies and that
// makes the old generation grow between full GCs). Objects that die young are left out, so what remains is what
// costs scavenge time and old-space memory. Writes DIR/<app>-<pid>.heapprofile (Chrome DevTools opens it);
// `node scripts/bench/survivors-summary.mjs DIR` ranks the allocation sites.
'use strict';
const inspector = require('node:inspector');
const { writeFileSync } = require('node:fs');
const path = require('node:path');

const dir = process.env.AIGW_SURVIVORS_DIR;
if (dir) {
  const startS = Number(process.env.AIGW_SURVIVORS_START_S ?? 14);
  const spanS = Number(process.env.AIGW_SURVIVORS_SPAN_S ?? 20);
  // dist/apps/<app>/src/main.js
  const app = path.basename(path.resolve(process.argv[1] ?? 'node', '..', '..'));
  const session = new inspector.Session();
  session.connect();
  const post = (method, params) =>
    new Promise((resolve, reject) =>
      session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))),
    );
  const run = async () => {
    await post('HeapProfiler.enable');
    await post('HeapProfiler.startSampling', {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: false,
    });
    await new Promise((resolve) => setTimeout(resolve, spanS * 1000).unref());
    const { profile } = await post('HeapProfiler.stopSampling');
    writeFileSync(path.join(dir, `${app}-${process.pid}.heapprofile`), JSON.stringify(profile));
  };
  setTimeout(() => {
    run().catch((err) => process.stderr.write(`survivors-preload: ${err}\n`));
  }, startS * 1000).unref();
}
