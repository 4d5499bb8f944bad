// Adds tiktoken's own counts to texts written by
// `go test ./tokens -run TestWriteTiktokenInputs -tokens.write-inputs=FILE`.
// Reads JSON lines {"b64": ...} on stdin, writes {"b64", "o200k_base",
// "cl100k_base"} on stdout. Needs the npm package tiktoken (OpenAI's Rust
// core as WebAssembly, vocabularies included; it runs offline), installed
// outside the repository and found through NODE_PATH.
import { createRequire } from "node:module";
import { createInterface } from "node:readline";

const require = createRequire(import.meta.url + "/../");
const { get_encoding } = require("tiktoken");

const encs = { o200k_base: get_encoding("o200k_base"), cl100k_base: get_encoding("cl100k_base") };
// Non-fatal TextDecoder replaces each maximal invalid subsequence with U+FFFD.
const decoder = new TextDecoder("utf-8");

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (!line) continue;
  const { b64 } = JSON.parse(line);
  const text = decoder.decode(Buffer.from(b64, "base64"));
  const out = { b64 };
  for (const [name, enc] of Object.entries(encs)) {
    // encode_ordinary: special-token text is ordinary text.
    out[name] = enc.encode_ordinary(text).length;
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}
