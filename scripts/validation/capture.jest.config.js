// The repository's jest config with `capture-fetch.js` added to every project (see capture-bodies.mjs).
const path = require('node:path');
const base = require('../../jest.config.js');

const rootDir = path.resolve(__dirname, '../..');
module.exports = {
  ...base,
  rootDir,
  projects: base.projects.map((p) => ({
    ...p,
    rootDir,
    setupFiles: [...p.setupFiles, path.join(__dirname, 'capture-fetch.js')],
  })),
};
