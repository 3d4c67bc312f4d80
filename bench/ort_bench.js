// (c) of the benchmark: the FP32 twin in ONNX Runtime (npm onnxruntime-node,
// its native CPU library), full depth, padded batches.
//   node bench/ort_bench.js MODEL.onnx TOKENS.tsv BATCH THREADS MIN_SECONDS
// Prints one JSON object like beex_bench's.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));

function readTokens(file) {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length).map((l) => {
    const [label, ids, types] = l.split('\t');
    return {label: Number(label), ids: ids.split(' ').map(Number), types: types.split(' ').map(Number)};
  });
}

function feeds(batch) {
  const s = Math.max(...batch.map((x) => x.ids.length));
  const ids = new BigInt64Array(batch.length * s);
  const types = new BigInt64Array(batch.length * s);
  const mask = new Uint8Array(batch.length * s);
  batch.forEach((x, r) => {
    x.ids.forEach((v, t) => {
      ids[r * s + t] = BigInt(v);
      types[r * s + t] = BigInt(x.types[t]);
      mask[r * s + t] = 1;
    });
  });
  return {
    ids: new ort.Tensor('int64', ids, [batch.length, s]),
    type_ids: new ort.Tensor('int64', types, [batch.length, s]),
    mask: new ort.Tensor('bool', mask, [batch.length, s]),
  };
}

// VmHWM: getrusage's maxRSS survives execve and would report the parent's peak.
function peakRssMb() {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1e3 : 0;
}

function percentile(v, q) {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

async function main() {
  const [model, tokensFile, batchArg, threadsArg, minArg] = process.argv.slice(2);
  const batch = Number(batchArg), threads = Number(threadsArg), minSeconds = Number(minArg);
  const data = readTokens(tokensFile);
  const rssBefore = process.memoryUsage().rss;
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // Idle threads sleep instead of spinning, as beex's (OMP_WAIT_POLICY=
    // PASSIVE) and PyTorch's do here: on a shared machine spinning threads
    // steal the cores the work needs.
    extra: {session: {intra_op: {allow_spinning: '0'}, inter_op: {allow_spinning: '0'}}},
  });
  const batches = [];
  for (let b = 0; b < data.length; b += batch) batches.push(data.slice(b, b + batch));
  const prepared = batches.map(feeds);
  const outName = session.outputNames[0];
  async function pass(lat, stats) {
    for (let i = 0; i < prepared.length; ++i) {
      const t0 = process.hrtime.bigint();
      const out = await session.run(prepared[i]);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (lat) lat.push(ms);
      if (stats) {
        const o = out[outName];  // [layers, batch, classes]
        const [layers, n, c] = o.dims;
        for (let r = 0; r < n; ++r) {
          let best = 0;
          const base = ((layers - 1) * n + r) * c;
          for (let k = 1; k < c; ++k) if (o.data[base + k] > o.data[base + best]) best = k;
          stats.correct += best === batches[i][r].label ? 1 : 0;
        }
      }
    }
  }
  await pass(null, null);
  const rssLoaded = process.memoryUsage().rss;
  const lat = [];
  const stats = {correct: 0};
  let done = 0, passes = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  do {
    await pass(lat, passes === 0 ? stats : null);
    done += data.length;
    ++passes;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  } while (elapsed < minSeconds);
  const layers = (await session.run(prepared[0]))[outName].dims[0];
  console.log(JSON.stringify({
    runtime: 'onnxruntime-node', ort_version: require(path.join(__dirname, 'node_modules', 'onnxruntime-node',
                                                                'package.json')).version,
    policy: 'none', batch, threads, n: data.length, passes, sentences_per_s: done / elapsed,
    p50_ms: percentile(lat, 0.5), p99_ms: percentile(lat, 0.99), mean_exit_layer: layers,
    accuracy: stats.correct / data.length, peak_rss_mb: peakRssMb(),
    model_rss_mb: (rssLoaded - rssBefore) / 1e6,
  }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
