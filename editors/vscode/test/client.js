// Load extension.js with stand-ins for the `vscode` and `vscode-languageclient/node` modules
// and print what it would start: the server command, the client options, and whether
// activate() started the client.
// Usage: node client.js EXTENSION_JS '{"nmrcheck.path": "..."}'
'use strict';

const Module = require('module');
const settings = JSON.parse(process.argv[3] || '{}');
const seen = { started: false };

const vscode = {
  workspace: {
    getConfiguration: (section) => ({
      get: (key, dflt) => (`${section}.${key}` in settings ? settings[`${section}.${key}`] : dflt),
    }),
  },
};

class LanguageClient {
  constructor(id, name, serverOptions, clientOptions) {
    Object.assign(seen, { id, name, serverOptions, clientOptions });
  }
  start() { seen.started = true; return Promise.resolve(); }
  stop() { return Promise.resolve(); }
  dispose() {}
}

const load = Module._load;
Module._load = function (request, parent, isMain) {
  if (request === 'vscode') return vscode;
  if (request === 'vscode-languageclient/node') return { LanguageClient };
  return load.call(this, request, parent, isMain);
};

const ext = require(process.argv[2]);
const context = { subscriptions: [] };
Promise.resolve(ext.activate(context)).then(() => {
  seen.subscriptions = context.subscriptions.length;
  process.stdout.write(JSON.stringify(seen));
});
