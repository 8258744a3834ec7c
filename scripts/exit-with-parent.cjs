// Preloaded (`node --require`) into every process `npm start` starts: when that script is gone, however it went
// (SIGKILL, the OOM killer, a crash, an IDE's stop button), the process stops as on a SIGTERM, with its own graceful
// shutdown. Without it, the apps and the simulator went on serving, orphaned, holding their ports: the next
// `npm start` found them "already in use" by processes nobody had started on purpose.
// The script holds the other end of this process's stdin, a pipe it never writes to: its end-of-file is the script's
// exit, which the kernel signals whatever way the script ended.
'use strict';
const { isMainThread } = require('node:worker_threads');

// A worker thread inherits the preload (execArgv), but not the pipe: its stdin is its own, and ends at once.
if (isMainThread && process.stdin && !process.stdin.isTTY) {
  let gone = false;
  const parentGone = () => {
    if (gone) {
      return;
    }
    gone = true;
    // Nobody reads the output any more: a write to it would fail (EPIPE) and, unheard, end the shutdown midway.
    for (const stream of [process.stdout, process.stderr]) {
      stream.on('error', () => undefined);
    }
    process.kill(process.pid, 'SIGTERM');
  };
  process.stdin.on('end', parentGone);
  process.stdin.on('error', parentGone);
  process.stdin.resume();
  // The pipe must not keep the process alive: a process that stops by letting its event loop empty (the simulator)
  // still does.
  process.stdin.unref?.();
}
