"""The nmrcheck language server (LSP over stdio, pygls) and what it knows about .nmr text."""
