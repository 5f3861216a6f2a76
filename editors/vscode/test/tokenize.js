// Tokenise files with the TextMate grammar as VS Code does (vscode-textmate, vscode-oniguruma).
// Usage: node tokenize.js GRAMMAR FILE...
// Prints JSON: {FILE: {"lines": [[[start, end, [scopes...]], ...], ...], "depth": [start, end]}}
// where depth is the rule stack's depth before the first line and after the last one.
'use strict';

const fs = require('fs');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

async function main(grammarPath, files) {
  const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm')).buffer;
  await oniguruma.loadWASM(wasm);
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (sources) => new oniguruma.OnigScanner(sources),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async () => vsctm.parseRawGrammar(fs.readFileSync(grammarPath, 'utf8'), grammarPath),
  });
  const grammar = await registry.loadGrammar('source.nmr');
  const out = {};
  for (const file of files) {
    let stack = vsctm.INITIAL;
    const lines = [];
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const r = grammar.tokenizeLine(line, stack);
      lines.push(r.tokens.map((t) => [t.startIndex, t.endIndex, t.scopes]));
      stack = r.ruleStack;
    }
    out[file] = { lines, depth: [vsctm.INITIAL.depth, stack.depth] };
  }
  process.stdout.write(JSON.stringify(out));
}

main(process.argv[2], process.argv.slice(3)).catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
