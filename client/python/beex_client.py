#!/usr/bin/env python3
"""Calls beex from Python: classify or regress a few texts and print each
answer with its exit layer and latency.

Stubs are generated from proto/ at build time (build/python, see
client/CMakeLists.txt); point PYTHONPATH there:

  PYTHONPATH=build/python /usr/bin/python3 client/python/beex_client.py \\
      classify --model sst2 "a gripping, beautifully acted film"
  PYTHONPATH=build/python /usr/bin/python3 client/python/beex_client.py \\
      regress --model stsb "A man is playing a guitar." "A person plays the guitar."
  PYTHONPATH=build/python /usr/bin/python3 client/python/beex_client.py \
      classify --model sst2 --lines texts.txt

--lines sends every line of a file (a tab between a pair) as a request of
its own on one ClassifyStream/RegressStream and prints the answers in order;
a request that fails gets an error line and the others go on.

Needs Debian's python3-grpcio and python3-protobuf.
"""
import argparse
import sys

import grpc

from beex.v1 import inference_pb2 as pb
from beex.v1 import inference_pb2_grpc as rpc


def describe(method, r):
    if method == "classify":
        scores = ", ".join(f"{s:.3f}" for s in r.scores)
        return (f"{r.label} [{scores}] exit layer {r.exit_layer}/"
                f"{r.num_layers} latency {r.timing.total_us} us")
    return (f"{r.value:.3f} exit layer {r.exit_layer}/{r.num_layers} "
            f"latency {r.timing.total_us} us")


def text_input(text, text_pair=None):
    i = pb.TextInput(text=text)
    if text_pair is not None:
        i.text_pair = text_pair
    return i


def request(method, model, inputs):
    kind = pb.ClassifyRequest if method == "classify" else pb.RegressRequest
    return kind(model=model, inputs=inputs)


def stream_lines(stub, args):
    """Sends each line as a request on one stream; returns the failures."""
    with open(args.lines, encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f if l != "\n"]
    requests = (request(args.method, args.model, [text_input(*l.split("\t", 1))])
                for l in lines)
    call = (stub.ClassifyStream if args.method == "classify"
            else stub.RegressStream)
    failed = 0
    for n, answer in enumerate(call(requests, timeout=args.timeout), 1):
        if answer.code != grpc.StatusCode.OK.value[0]:
            failed += 1
            code = next(c.name for c in grpc.StatusCode
                        if c.value[0] == answer.code)
            print(f"{n}: error: {code}: {answer.error_message}")
            continue
        for r in answer.response.results:
            print(f"{n}: {describe(args.method, r)}")
    return failed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("method", choices=["classify", "regress"])
    parser.add_argument("--model", required=True)
    parser.add_argument("--addr", default="localhost:50051")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds")
    parser.add_argument("--lines", help="a file of inputs to send on a stream")
    parser.add_argument("text", nargs="?")
    parser.add_argument("text_pair", nargs="?")
    args = parser.parse_intermixed_args(argv)
    if (args.text is None) == (args.lines is None):
        parser.error("give a text or --lines FILE")

    with grpc.insecure_channel(args.addr) as channel:
        stub = rpc.InferenceStub(channel)
        try:
            if args.lines:
                return 1 if stream_lines(stub, args) else 0
            call = stub.Classify if args.method == "classify" else stub.Regress
            reply = call(request(args.method, args.model,
                                 [text_input(args.text, args.text_pair)]),
                         timeout=args.timeout)
            for r in reply.results:
                print(describe(args.method, r))
        except grpc.RpcError as e:
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
