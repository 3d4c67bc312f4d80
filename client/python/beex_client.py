#!/usr/bin/env python3
"""Calls beex from Python: classify or regress a few texts and print each
answer with its exit layer and latency.

Stubs are generated from proto/ at build time (build/python, see
client/CMakeLists.txt); point PYTHONPATH there:

  PYTHONPATH=build/python /usr/bin/python3 client/python/beex_client.py \\
      classify --model sst2 "a gripping, beautifully acted film"
  PYTHONPATH=build/python /usr/bin/python3 client/python/beex_client.py \\
      regress --model stsb "A man is playing a guitar." "A person plays the guitar."

Needs Debian's python3-grpcio and python3-protobuf.
"""
import argparse
import sys

import grpc

from beex.v1 import inference_pb2 as pb
from beex.v1 import inference_pb2_grpc as rpc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("method", choices=["classify", "regress"])
    parser.add_argument("--model", required=True)
    parser.add_argument("--addr", default="localhost:50051")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds")
    parser.add_argument("text")
    parser.add_argument("text_pair", nargs="?")
    args = parser.parse_args(argv)

    text_input = pb.TextInput(text=args.text)
    if args.text_pair is not None:
        text_input.text_pair = args.text_pair
    with grpc.insecure_channel(args.addr) as channel:
        stub = rpc.InferenceStub(channel)
        try:
            if args.method == "classify":
                reply = stub.Classify(
                    pb.ClassifyRequest(model=args.model, inputs=[text_input]),
                    timeout=args.timeout)
                for r in reply.results:
                    scores = ", ".join(f"{s:.3f}" for s in r.scores)
                    print(f"{r.label} [{scores}] exit layer {r.exit_layer}/"
                          f"{r.num_layers} latency {r.timing.total_us} us")
            else:
                reply = stub.Regress(
                    pb.RegressRequest(model=args.model, inputs=[text_input]),
                    timeout=args.timeout)
                for r in reply.results:
                    print(f"{r.value:.3f} exit layer {r.exit_layer}/"
                          f"{r.num_layers} latency {r.timing.total_us} us")
        except grpc.RpcError as e:
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
