#!/usr/bin/env node
// Calls beex from Node.js: classify or regress one text (or a pair) and print
// the answer with its exit layer and latency.
//
//   cd client/node && npm ci
//   node beex_client.js classify --model sst2 "a gripping, beautifully acted film"
//   node beex_client.js regress --model stsb "A man is playing a guitar." "A person plays the guitar."
//
// The .proto is loaded at run time from proto/ (BEEX_PROTO_DIR overrides).
'use strict';

const path = require('node:path');
const { parseArgs } = require('node:util');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function usage(message) {
  console.error(`${message}\nusage: beex_client.js classify|regress --model NAME ` +
                '[--addr HOST:PORT] [--timeout SECONDS] TEXT [TEXT_PAIR]');
  process.exit(2);
}

function loadService() {
  const protoDir = process.env.BEEX_PROTO_DIR || path.join(__dirname, '..', '..', 'proto');
  const definition = protoLoader.loadSync('beex/v1/inference.proto', {
    includeDirs: [protoDir],
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
  });
  return grpc.loadPackageDefinition(definition).beex.v1.Inference;
}

function main() {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        model: { type: 'string' },
        addr: { type: 'string', default: 'localhost:50051' },
        timeout: { type: 'string', default: '10' },
      },
    });
  } catch (e) {
    usage(e.message);
  }
  const { values, positionals } = parsed;
  const [method, text, textPair] = positionals;
  if (!['classify', 'regress'].includes(method)) usage('method must be classify or regress');
  if (!values.model || text === undefined) usage('--model and TEXT are required');

  const Inference = loadService();
  const client = new Inference(values.addr, grpc.credentials.createInsecure());
  const input = textPair === undefined ? { text } : { text, text_pair: textPair };
  const request = { model: values.model, inputs: [input] };
  const deadline = new Date(Date.now() + Number(values.timeout) * 1000);
  const rpc = method === 'classify' ? 'Classify' : 'Regress';

  client[rpc](request, { deadline }, (err, reply) => {
    client.close();
    if (err) {
      console.error(`error: ${grpc.status[err.code]}: ${err.details}`);
      process.exitCode = 1;
      return;
    }
    for (const r of reply.results) {
      const where = `exit layer ${r.exit_layer}/${r.num_layers} latency ${r.timing.total_us} us`;
      if (method === 'classify') {
        const scores = r.scores.map((s) => s.toFixed(3)).join(', ');
        console.log(`${r.label} [${scores}] ${where}`);
      } else {
        console.log(`${r.value.toFixed(3)} ${where}`);
      }
    }
  });
}

main();
