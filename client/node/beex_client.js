#!/usr/bin/env node
// Calls beex from Node.js: classify or regress one text (or a pair) and print
// the answer with its exit layer and latency.
//
//   cd client/node && npm ci
//   node beex_client.js classify --model sst2 "a gripping, beautifully acted film"
//   node beex_client.js regress --model stsb "A man is playing a guitar." "A person plays the guitar."
//   node beex_client.js classify --model sst2 --lines texts.txt
//
// --lines sends every line of a file (a tab between a pair) as a request of
// its own on one ClassifyStream/RegressStream and prints the answers in
// order; a request that fails gets an error line and the others go on.
//
// The .proto is loaded at run time from proto/ (BEEX_PROTO_DIR overrides).
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function usage(message) {
  console.error(`${message}\nusage: beex_client.js classify|regress --model NAME ` +
                '[--addr HOST:PORT] [--timeout SECONDS] (TEXT [TEXT_PAIR] | --lines FILE)');
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

function describe(method, r) {
  const where = `exit layer ${r.exit_layer}/${r.num_layers} latency ${r.timing.total_us} us`;
  if (method === 'classify') {
    const scores = r.scores.map((s) => s.toFixed(3)).join(', ');
    return `${r.label} [${scores}] ${where}`;
  }
  return `${r.value.toFixed(3)} ${where}`;
}

function toInput(text, textPair) {
  return textPair === undefined ? { text } : { text, text_pair: textPair };
}

// Sends each line as a request on one stream; answers come back in order.
function streamLines(client, method, model, file, deadline) {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
  const call = client[method === 'classify' ? 'ClassifyStream' : 'RegressStream']({ deadline });
  let n = 0;
  call.on('data', (answer) => {
    n += 1;
    if (answer.code !== grpc.status.OK) {
      console.log(`${n}: error: ${grpc.status[answer.code]}: ${answer.error_message}`);
      process.exitCode = 1;
      return;
    }
    for (const r of answer.response.results) console.log(`${n}: ${describe(method, r)}`);
  });
  call.on('error', (err) => {
    console.error(`error: ${grpc.status[err.code]}: ${err.details}`);
    process.exitCode = 1;
  });
  call.on('end', () => client.close());
  for (const line of lines) {
    const [text, textPair] = line.split('\t', 2);
    call.write({ model, inputs: [toInput(text, textPair)] });
  }
  call.end();
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
        lines: { type: 'string' },
      },
    });
  } catch (e) {
    usage(e.message);
  }
  const { values, positionals } = parsed;
  const [method, text, textPair] = positionals;
  if (!['classify', 'regress'].includes(method)) usage('method must be classify or regress');
  if (!values.model || (text === undefined) === (values.lines === undefined)) {
    usage('--model and either TEXT or --lines FILE are required');
  }

  const Inference = loadService();
  const client = new Inference(values.addr, grpc.credentials.createInsecure());
  const deadline = new Date(Date.now() + Number(values.timeout) * 1000);
  if (values.lines !== undefined) {
    streamLines(client, method, values.model, values.lines, deadline);
    return;
  }
  const request = { model: values.model, inputs: [toInput(text, textPair)] };
  const rpc = method === 'classify' ? 'Classify' : 'Regress';

  client[rpc](request, { deadline }, (err, reply) => {
    client.close();
    if (err) {
      console.error(`error: ${grpc.status[err.code]}: ${err.details}`);
      process.exitCode = 1;
      return;
    }
    for (const r of reply.results) console.log(describe(method, r));
  });
}

main();
