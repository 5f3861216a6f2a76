// The VS Code client of nmrcheck: starts `nmrcheck lsp` (LSP over stdio) for .nmr and .spec
// files and passes it the nmrcheck.* settings.
'use strict';

const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

let client;

function settings() {
  const c = vscode.workspace.getConfiguration('nmrcheck');
  return {
    searchOnSave: c.get('searchOnSave', true),
    maxStates: c.get('maxStates', 20000),
    timeout: c.get('timeout', 10),
  };
}

function serverOptions() {
  const command = vscode.workspace.getConfiguration('nmrcheck').get('path', 'nmrcheck');
  return { command, args: ['lsp'] };
}

function clientOptions() {
  return {
    documentSelector: [
      { scheme: 'file', language: 'nmr' },
      { scheme: 'file', language: 'nmr-spec' },
    ],
    initializationOptions: settings(),
    synchronize: { configurationSection: 'nmrcheck' },
  };
}

function activate(context) {
  client = new LanguageClient('nmrcheck', 'nmrcheck', serverOptions(), clientOptions());
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate, serverOptions, clientOptions };
