// The whole extension: start `cnndsl lsp` (pip install 'cnndsl[lsp]') for .cnn files. No build step.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("cnndsl").get("server.command", ["cnndsl", "lsp"]);
  client = new LanguageClient(
    "cnndsl",
    "cnndsl language server",
    { command, args },
    { documentSelector: [{ scheme: "file", language: "cnn" }, { scheme: "untitled", language: "cnn" }] }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
