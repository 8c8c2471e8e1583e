// Peer for bench_tokenizer: Hugging Face's Rust tokenizers through the Node binding
// @anush008/tokenizers. Usage: node rust_tokenizers_peer.js TOKENIZER_JSON TEXTS_JSONL PASSES
// (the thread count comes from RAYON_NUM_THREADS, set by the caller). Prints one JSON line:
// {"tokens": per-pass token count, "seconds": [one per timed pass], "load_seconds": s}.
const { Tokenizer } = require('@anush008/tokenizers');
const fs = require('fs');

const [tokenizerPath, textsPath, passesArg] = process.argv.slice(2);
const texts = fs.readFileSync(textsPath, 'utf8').split('\n').filter((l) => l.length)
  .map((l) => JSON.parse(l).text);

(async () => {
  let start = process.hrtime.bigint();
  const tokenizer = Tokenizer.fromFile(tokenizerPath);
  const loadSeconds = Number(process.hrtime.bigint() - start) / 1e9;
  const encodeAll = async () => {
    const encodings = await tokenizer.encodeBatch(texts, { addSpecialTokens: false });
    let tokens = 0;
    for (const e of encodings) tokens += e.getLength();
    return tokens;
  };
  const tokens = await encodeAll();  // warm-up, fills the word cache as ours is filled
  const seconds = [];
  for (let p = 0; p < Number(passesArg); ++p) {
    start = process.hrtime.bigint();
    await encodeAll();
    seconds.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  process.stdout.write(JSON.stringify({ tokens, seconds, load_seconds: loadSeconds }) + '\n');
})();
