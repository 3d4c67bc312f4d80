#!/usr/bin/python3
"""Soak driver for beex-server: mixed Classify (sst2, single sentences) and
Regress (stsb, sentence pairs) at high concurrency with random client
cancellations, for a bounded time, while the server's memory is sampled.

  PYTHONPATH=build/python /usr/bin/python3 bench/soak.py --addr 127.0.0.1:50051 \\
      --pid "$(pidof beex-server)" --seconds 600 --concurrency 32 --json soak.json

bench/soak.sh starts a server on loopback and runs this against it.

Load. --concurrency callers, each a thread that keeps exactly one call in
flight: it starts the call with gRPC's future API, waits for it, records the
outcome and starts the next. Every call carries a deadline (--deadline_ms);
--tight_deadline_fraction of them get a deadline of 1-20 ms instead, so the
server's path that drops inputs whose deadline passed in the queue is
exercised all the time rather than only under overload. --cancel_fraction of
the calls are cancelled by the client (future.cancel()) after a random
0-5 ms sleep; when the call has already finished by then, cancel() does
nothing and the call counts under its real outcome, not as cancelled.

Accounting. Each call ends in exactly one outcome:
  * a gRPC status code: OK (a reply) or the code the call failed with;
  * "CANCELLED by client": our cancel() took effect (the call was not done);
  * lost: see below.
sent == sum(outcomes) + lost is checked; a difference is a bookkeeping bug
and fails the run as well.

Lost, precisely. A call is lost when it was started (the future exists) and
had not reached a terminal state (neither a reply nor any status, from the
server, the client's deadline or the client's cancel) by its deadline plus
--grace_s. gRPC's client ends every call with DEADLINE_EXCEEDED at its
deadline whatever the server does, so a lost call means the client's channel
or completion machinery wedged; it is the weaker check. A request that the
server accepted and then never answered is not lost in that sense: the client
sees DEADLINE_EXCEEDED. Two things catch that case:
  * the normal deadline (10 s by default) is far above the latency at this
    load, and DEADLINE_EXCEEDED on a normal-deadline call is reported apart
    from the tight-deadline ones (--max_slow_deadlines fails the run on them);
  * with --metrics_url, after the last call has ended the server's
    beex_inflight_requests must fall to 0 for every model (a call the server
    started and never finished keeps it above 0), the server's count of
    answered Classify/Regress calls must lie between what the client sent
    minus what can end without reaching the server (client cancels and
    deadlines) and what it sent, and the server's OK count must lie between
    the client's OK count and that plus the calls the client cancelled or
    timed out (a reply the server sent that the client did not get while
    still waiting would break the upper bound).

Memory. VmRSS of --pid is read from /proc every --rss_interval_s. The
baseline ("start") is the first sample at or after --warmup_s of traffic
(model pages, gRPC and allocator pools have been touched by then); "end" is
read after the last call ended. The run fails when end - start exceeds both
--rss_growth (a fraction of start) and --rss_floor_mb, or when the process
is gone.

Latency. Client-observed, from starting the call to the caller seeing its
outcome, of calls answered OK, grouped by the minute in which they ended
(10 s windows when the run is shorter than 3 minutes; --window_s overrides).

Exit status: 0 when the verdict is PASS; 1 when any call was lost, a status
other than OK, client-cancelled CANCELLED, DEADLINE_EXCEEDED or
RESOURCE_EXHAUSTED appeared, memory grew beyond the limit, the server died,
or a server-side check failed; 2 for bad flags or a server that never
answered.
"""
import argparse
import json
import math
import os
import random
import re
import sys
import threading
import time
import urllib.request

import grpc

from beex.v1 import inference_pb2 as pb
from beex.v1 import inference_pb2_grpc as rpc

# Written for this driver; varied in length (a few words to past the models'
# token limit), punctuation and script, so batches mix short and long inputs.
SENTENCES = [
    "Loved it.",
    "Dull.",
    "A warm, funny and surprisingly tender story about two brothers.",
    "The plot collapses halfway through and never recovers.",
    "I checked my watch four times in the first hour.",
    "Every frame looks like a painting, and the score is just as lovely.",
    "The jokes land, the pacing is brisk, and the cast clearly had fun.",
    "It tries to be clever but mostly ends up confusing.",
    "An honest, quietly devastating portrait of a family coming apart.",
    "Nothing here you have not seen done better elsewhere.",
    "The lead performance alone is worth the price of admission.",
    "Too long, too loud, and far too pleased with itself.",
    "A small film with a big heart.",
    "The dialogue is so stiff it sounds like it was translated twice.",
    "By the final scene I was grinning like a kid.",
    "Neither the action nor the romance ever catches fire.",
    "Un film charmant, même si la fin traîne un peu.",
    "The café scenes are delightful; the rest, less so.",
    "What starts as a routine heist movie turns into something stranger and "
    "far more moving, thanks to a script that trusts its audience.",
    "Mediocre at best.",
    "Its ambition outruns its budget, yet you cannot help admiring the nerve "
    "of a director who tries this much with so little.",
    "A predictable, paint-by-numbers sequel that exists only to sell toys.",
    "Sharp writing, a fearless central performance and an ending that "
    "lingers for days.",
    "I wanted to like it; I really did.",
    # Longer than the 64-token limit of the bundled models: exercises
    # truncation on every batch that holds it.
    " ".join(["The camera drifts through the empty house while the "
              "narrator remembers a summer that may never have happened,"] * 6),
]

PAIRS = [
    ("A man is playing a guitar.", "A person plays the guitar."),
    ("A woman is slicing an onion.", "Someone is cutting vegetables."),
    ("The cat sleeps on the sofa.", "A dog runs across the field."),
    ("Two children are building a sandcastle on the beach.",
     "Kids are playing in the sand by the sea."),
    ("The train was delayed by heavy snow.", "Snow held up the train."),
    ("A chef is frying eggs in a pan.", "The stock market fell sharply today."),
    ("The meeting has been moved to Thursday afternoon.",
     "We will now meet on Thursday after lunch."),
    ("A boy is riding a bicycle down a steep hill.",
     "A child cycles downhill."),
    ("Rain is expected across the north tomorrow.",
     "Tomorrow will be sunny everywhere."),
    ("A group of people are dancing at a wedding.",
     "Guests dance at a wedding reception."),
    ("The bridge was closed for repairs after the storm damaged its railings "
     "and parts of the road surface.",
     "After the storm, the damaged bridge shut so workers could fix it."),
    ("He reads.", "She writes."),
]

ALLOWED = {"OK", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"}
CLIENT_CANCELLED = "CANCELLED by client"


def percentile(sorted_values, q):
    """Nearest-rank percentile of an ascending list; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def read_rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


class CallerStats:
    """One caller's tallies; each thread owns one, so no locking is needed.
    Merged after the threads have stopped."""

    def __init__(self):
        self.sent = 0
        self.outcomes = {}          # outcome -> count
        self.by_method = {}         # (method, outcome) -> count
        self.cancel_attempts = 0
        self.slow_deadlines = 0     # DEADLINE_EXCEEDED on a normal deadline
        self.lost = []              # descriptions of lost calls
        self.windows = {}           # window index -> {"lat": [...], "codes": {}}

    def record(self, method, outcome, window, latency_s):
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        key = (method, outcome)
        self.by_method[key] = self.by_method.get(key, 0) + 1
        w = self.windows.setdefault(window, {"lat": [], "codes": {}})
        w["codes"][outcome] = w["codes"].get(outcome, 0) + 1
        if outcome == "OK":
            w["lat"].append(latency_s)


class Soak:
    def __init__(self, args):
        self.args = args
        self.stop = threading.Event()
        self.t0 = None
        self.channels = [
            grpc.insecure_channel(
                args.addr,
                # One connection per channel: without a local subchannel
                # pool every channel would share one TCP connection.
                options=[("grpc.use_local_subchannel_pool", 1)])
            for _ in range(args.channels)
        ]
        self.stubs = [rpc.InferenceStub(c) for c in self.channels]
        self.classify_requests = [
            pb.ClassifyRequest(model=args.classify_model,
                               inputs=[pb.TextInput(text=s)])
            for s in SENTENCES
        ]
        self.regress_requests = [
            pb.RegressRequest(model=args.regress_model,
                              inputs=[pb.TextInput(text=a, text_pair=b)])
            for a, b in PAIRS
        ]
        self.rss = []               # (seconds since t0, kB or None)
        self.stats = []

    def window_of(self, t):
        # Calls that end during the final drain belong to the last window.
        last = max(0, math.ceil(self.args.seconds / self.args.window_s) - 1)
        return min(last, int((t - self.t0) // self.args.window_s))

    def caller(self, index, stats):
        a = self.args
        rng = random.Random(a.seed * 1000003 + index)
        stub = self.stubs[index % len(self.stubs)]
        while not self.stop.is_set():
            if rng.random() < a.regress_fraction:
                method, call = "Regress", stub.Regress
                request = rng.choice(self.regress_requests)
            else:
                method, call = "Classify", stub.Classify
                request = rng.choice(self.classify_requests)
            tight = rng.random() < a.tight_deadline_fraction
            deadline_s = rng.uniform(0.001, 0.020) if tight else a.deadline_ms / 1e3
            cancel = rng.random() < a.cancel_fraction
            start = time.monotonic()
            future = call.future(request, timeout=deadline_s)
            stats.sent += 1
            cancelled = False
            if cancel:
                stats.cancel_attempts += 1
                time.sleep(rng.uniform(0.0, 0.005))
                cancelled = future.cancel()
            wait_s = deadline_s + a.grace_s - (time.monotonic() - start)
            try:
                future.result(timeout=max(0.0, wait_s))
                outcome = "OK"
            except grpc.FutureTimeoutError:
                stats.lost.append(f"{method} deadline {deadline_s * 1e3:.0f} ms "
                                  f"started at {start - self.t0:.1f} s")
                future.cancel()
                continue
            except grpc.FutureCancelledError:
                outcome = CLIENT_CANCELLED
            except grpc.RpcError as e:
                outcome = e.code().name
            end = time.monotonic()
            if outcome == "CANCELLED" and cancelled:
                outcome = CLIENT_CANCELLED
            if outcome == "DEADLINE_EXCEEDED" and not tight:
                stats.slow_deadlines += 1
            stats.record(method, outcome, self.window_of(end), end - start)

    def sample_rss(self):
        while True:
            self.rss.append((time.monotonic() - self.t0, read_rss_kb(self.args.pid)))
            if self.stop.wait(self.args.rss_interval_s):
                return

    def run(self):
        a = self.args
        for c in self.channels:
            try:
                grpc.channel_ready_future(c).result(timeout=30)
            except grpc.FutureTimeoutError:
                print(f"soak: no connection to {a.addr} within 30 s", file=sys.stderr)
                return None
        self.t0 = time.monotonic()
        self.rss_before = read_rss_kb(a.pid)
        sampler = threading.Thread(target=self.sample_rss, daemon=True)
        sampler.start()
        threads = []
        for i in range(a.concurrency):
            stats = CallerStats()
            self.stats.append(stats)
            t = threading.Thread(target=self.caller, args=(i, stats), daemon=True)
            t.start()
            threads.append(t)
        self.stop.wait(a.seconds)
        self.stop.set()
        traffic_end = time.monotonic() - self.t0
        # Each caller's last call is bounded by its deadline plus the grace.
        join_by = time.monotonic() + a.deadline_ms / 1e3 + a.grace_s + 5
        stuck = 0
        for t in threads:
            t.join(timeout=max(0.0, join_by - time.monotonic()))
            stuck += t.is_alive()
        sampler.join()
        server = self.server_state() if a.metrics_url else None
        rss_end = read_rss_kb(a.pid)
        return self.report(traffic_end, stuck, rss_end, server)

    def server_state(self):
        """Server's in-flight gauge and answered counts, once the in-flight
        gauge has settled (a cancel reaches the server a moment after the
        client has moved on)."""
        settle_by = time.monotonic() + self.args.settle_s
        while True:
            text = urllib.request.urlopen(self.args.metrics_url, timeout=10).read().decode()
            inflight, answered = {}, {}
            for line in text.splitlines():
                m = re.match(r'^(beex_inflight_requests|beex_requests_total)\{(.*)\} (\S+)$', line)
                if not m:
                    continue
                labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
                value = float(m.group(3))
                if m.group(1) == "beex_inflight_requests":
                    inflight[labels.get("model", "")] = value
                elif labels.get("method") in ("Classify", "Regress"):
                    code = labels.get("code", "")
                    answered[code] = answered.get(code, 0) + value
            if not any(inflight.values()) or time.monotonic() >= settle_by:
                return {"inflight": inflight,
                        "answered": {k: int(v) for k, v in sorted(answered.items())}}
            time.sleep(0.2)

    def report(self, traffic_end, stuck, rss_end, server):
        a = self.args
        sent = sum(s.sent for s in self.stats)
        outcomes, by_method, windows = {}, {}, {}
        lost, slow_deadlines, cancel_attempts = [], 0, 0
        for s in self.stats:
            for k, v in s.outcomes.items():
                outcomes[k] = outcomes.get(k, 0) + v
            for (m, k), v in s.by_method.items():
                by_method.setdefault(m, {})
                by_method[m][k] = by_method[m].get(k, 0) + v
            for i, w in s.windows.items():
                agg = windows.setdefault(i, {"lat": [], "codes": {}})
                agg["lat"].extend(w["lat"])
                for k, v in w["codes"].items():
                    agg["codes"][k] = agg["codes"].get(k, 0) + v
            lost.extend(s.lost)
            slow_deadlines += s.slow_deadlines
            cancel_attempts += s.cancel_attempts
        completed = sum(outcomes.values())
        # A caller still blocked after the join has one call that never ended.
        lost_count = len(lost) + stuck
        unaccounted = sent - completed - len(lost) - stuck

        samples = [(t, kb) for t, kb in self.rss if kb is not None]
        server_gone = any(kb is None for _, kb in self.rss) or rss_end is None
        after_warmup = [kb for t, kb in samples if t >= a.warmup_s]
        rss_start = after_warmup[0] if after_warmup else None
        rss_max = max((kb for _, kb in samples), default=None)

        rss_by_window = {}
        for t, kb in samples:
            rss_by_window[int(t // a.window_s)] = kb
        table = []
        for i in sorted(windows):
            lat = sorted(windows[i]["lat"])
            span = min(a.window_s, max(1e-9, traffic_end - i * a.window_s))
            codes = windows[i]["codes"]
            table.append({
                "window": i,
                "from_s": i * a.window_s,
                "completed": sum(codes.values()),
                "ok": codes.get("OK", 0),
                "ok_per_s": round(codes.get("OK", 0) / span, 1),
                "p50_ms": round(percentile(lat, 50) * 1e3, 2) if lat else None,
                "p99_ms": round(percentile(lat, 99) * 1e3, 2) if lat else None,
                "codes": dict(sorted(codes.items())),
                "rss_mb": round(rss_by_window[i] / 1024, 1) if i in rss_by_window else None,
            })

        failures = []
        if lost_count:
            failures.append(f"{lost_count} call(s) lost: " + "; ".join(lost[:5]))
        if unaccounted:
            failures.append(f"{unaccounted} call(s) unaccounted for (driver bookkeeping)")
        bad = {k: v for k, v in outcomes.items()
               if k not in ALLOWED and k != CLIENT_CANCELLED}
        if bad:
            failures.append(f"unexpected status codes: {bad}")
        if slow_deadlines > a.max_slow_deadlines:
            failures.append(f"{slow_deadlines} call(s) with the normal {a.deadline_ms} ms "
                            f"deadline ended DEADLINE_EXCEEDED (limit {a.max_slow_deadlines})")
        if server_gone:
            failures.append(f"server process {a.pid} disappeared during the run")
        growth_kb = None
        if rss_start is not None and rss_end is not None:
            growth_kb = rss_end - rss_start
            limit_kb = max(a.rss_growth * rss_start, a.rss_floor_mb * 1024)
            if growth_kb > limit_kb:
                failures.append(
                    f"RSS grew {growth_kb / 1024:.1f} MB after warm-up "
                    f"({rss_start / 1024:.1f} -> {rss_end / 1024:.1f} MB; limit "
                    f"{limit_kb / 1024:.1f} MB = max({a.rss_growth:.0%}, {a.rss_floor_mb} MB))")
        elif not server_gone:
            failures.append("no RSS sample after the warm-up (run shorter than --warmup_s?)")
        if server is not None:
            stuck_server = {m: v for m, v in server["inflight"].items() if v}
            if stuck_server:
                failures.append(f"server still holds calls it never answered "
                                f"(beex_inflight_requests): {stuck_server}")
            answered = sum(server["answered"].values())
            may_not_arrive = outcomes.get(CLIENT_CANCELLED, 0) + outcomes.get("DEADLINE_EXCEEDED", 0)
            if not sent - may_not_arrive <= answered <= sent:
                failures.append(f"server answered {answered} Classify/Regress calls; the "
                                f"client sent {sent}, of which {may_not_arrive} may have "
                                f"ended before reaching it")
            server_ok, client_ok = server["answered"].get("OK", 0), outcomes.get("OK", 0)
            if not client_ok <= server_ok <= client_ok + may_not_arrive:
                failures.append(f"server answered OK {server_ok} times, the client "
                                f"received {client_ok} OK replies")

        mb = lambda kb: round(kb / 1024, 1) if kb is not None else None
        return {
            "addr": a.addr,
            "seconds": a.seconds,
            "traffic_seconds": round(traffic_end, 1),
            "concurrency": a.concurrency,
            "channels": a.channels,
            "cancel_fraction": a.cancel_fraction,
            "tight_deadline_fraction": a.tight_deadline_fraction,
            "deadline_ms": a.deadline_ms,
            "regress_fraction": a.regress_fraction,
            "seed": a.seed,
            "window_s": a.window_s,
            "sent": sent,
            "served_ok": outcomes.get("OK", 0),
            "cancel_attempts": cancel_attempts,
            "cancelled_by_client": outcomes.get(CLIENT_CANCELLED, 0),
            "outcomes": dict(sorted(outcomes.items())),
            "by_method": {m: dict(sorted(v.items())) for m, v in sorted(by_method.items())},
            "deadline_exceeded_normal_deadline": slow_deadlines,
            "lost": lost_count,
            "unaccounted": unaccounted,
            "rss_mb": {"before_traffic": mb(self.rss_before), "start": mb(rss_start),
                       "max": mb(rss_max), "end": mb(rss_end),
                       "growth": mb(growth_kb), "warmup_s": a.warmup_s},
            "server": server,
            "windows": table,
            "failures": failures,
            "verdict": "FAIL" if failures else "PASS",
        }


def print_report(r):
    print(f"soak: {r['traffic_seconds']} s of traffic to {r['addr']}, "
          f"{r['concurrency']} callers on {r['channels']} channels, seed {r['seed']}")
    print(f"  sent {r['sent']}, served OK {r['served_ok']}, cancelled by client "
          f"{r['cancelled_by_client']} (of {r['cancel_attempts']} cancel attempts), "
          f"lost {r['lost']}")
    print(f"  outcomes: {r['outcomes']}")
    for m, v in r["by_method"].items():
        print(f"    {m}: {v}")
    print(f"  DEADLINE_EXCEEDED with the normal {r['deadline_ms']} ms deadline: "
          f"{r['deadline_exceeded_normal_deadline']}")
    m = r["rss_mb"]
    print(f"  server RSS MB: before traffic {m['before_traffic']}, start (after "
          f"{m['warmup_s']} s) {m['start']}, max {m['max']}, end {m['end']}, "
          f"growth {m['growth']}")
    if r["server"] is not None:
        print(f"  server: answered {r['server']['answered']}, in flight "
              f"{r['server']['inflight']}")
    print(f"  {'from s':>7} {'OK':>8} {'OK/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'RSS MB':>7}  other outcomes")
    for w in r["windows"]:
        other = {k: v for k, v in w["codes"].items() if k != "OK"}
        print(f"  {w['from_s']:>7.0f} {w['ok']:>8} {w['ok_per_s']:>8} "
              f"{w['p50_ms'] if w['p50_ms'] is not None else '-':>8} "
              f"{w['p99_ms'] if w['p99_ms'] is not None else '-':>8} "
              f"{w['rss_mb'] if w['rss_mb'] is not None else '-':>7}  {other}")
    for f in r["failures"]:
        print(f"  FAIL: {f}")
    print(f"verdict: {r['verdict']}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--addr", default="127.0.0.1:50051")
    p.add_argument("--pid", type=int, required=True, help="server process whose VmRSS is sampled")
    p.add_argument("--seconds", type=float, default=600, help="traffic time, warm-up included")
    p.add_argument("--concurrency", type=int, default=32, help="calls in flight")
    p.add_argument("--channels", type=int, default=4, help="gRPC connections shared by the callers")
    p.add_argument("--cancel_fraction", type=float, default=0.1)
    p.add_argument("--tight_deadline_fraction", type=float, default=0.05,
                   help="calls whose deadline is 1-20 ms")
    p.add_argument("--deadline_ms", type=float, default=10000, help="every other call's deadline")
    p.add_argument("--grace_s", type=float, default=5.0,
                   help="a call not ended this long after its deadline is lost")
    p.add_argument("--max_slow_deadlines", type=int, default=0,
                   help="normal-deadline calls allowed to end DEADLINE_EXCEEDED")
    p.add_argument("--regress_fraction", type=float, default=0.5)
    p.add_argument("--classify_model", default="sst2")
    p.add_argument("--regress_model", default="stsb")
    p.add_argument("--warmup_s", type=float, default=None,
                   help="RSS baseline time (default: 30 s, or a quarter of a shorter run)")
    p.add_argument("--rss_interval_s", type=float, default=2.0)
    p.add_argument("--rss_growth", type=float, default=0.25,
                   help="allowed end-over-start RSS growth, a fraction of start")
    p.add_argument("--rss_floor_mb", type=float, default=20,
                   help="growth below this is always allowed")
    p.add_argument("--window_s", type=float, default=None,
                   help="latency window (default: 60 s, 10 s for runs under 3 min)")
    p.add_argument("--metrics_url", help="the server's /metrics, for the server-side checks")
    p.add_argument("--settle_s", type=float, default=5.0,
                   help="how long the server's in-flight gauge may take to reach 0")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--json", help="write the report here")
    a = p.parse_args(argv)
    if a.concurrency < 1 or a.channels < 1 or a.seconds <= 0:
        p.error("--concurrency, --channels and --seconds must be positive")
    a.channels = min(a.channels, a.concurrency)
    if a.warmup_s is None:
        a.warmup_s = min(30.0, a.seconds / 4)
    if a.window_s is None:
        a.window_s = 60.0 if a.seconds >= 180 else 10.0
    if a.seed is None:
        a.seed = int.from_bytes(os.urandom(4), "little")
    if read_rss_kb(a.pid) is None:
        p.error(f"no process {a.pid} (or its /proc/{a.pid}/status is unreadable)")

    report = Soak(a).run()
    if report is None:
        return 2
    print_report(report)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
    return 0 if report["verdict"] == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
