"""Checks the Kubernetes manifests in deploy/k8s for what running beex in
production depends on, and that every flag they (and the image's entrypoint)
pass is one beex-server knows."""
import os
import re
import subprocess
import tempfile
import unittest

import yaml

SRC = os.environ.get("BEEX_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SERVER = os.environ.get("BEEX_SERVER")
K8S = os.path.join(SRC, "deploy", "k8s")


def load(name):
    with open(os.path.join(K8S, name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


class ManifestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.docs = {}
        for name in sorted(os.listdir(K8S)):
            if name.endswith(".yaml"):
                for d in load(name):
                    cls.docs.setdefault(d["kind"], []).append(d)
        (cls.deployment,) = cls.docs["Deployment"]
        cls.pod = cls.deployment["spec"]["template"]["spec"]
        (cls.container,) = cls.pod["containers"]

    def test_kustomization_lists_every_manifest_of_the_app(self):
        (k,) = load("kustomization.yaml")
        self.assertEqual(set(k["resources"]),
                         {"deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml"})

    def test_probes_speak_grpc_health_on_the_grpc_port(self):
        ports = {p["name"]: p["containerPort"] for p in self.container["ports"]}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            self.assertEqual(self.container[probe]["grpc"]["port"], ports["grpc"], probe)

    def test_resources_and_non_root_security_context(self):
        res = self.container["resources"]
        for kind in ("requests", "limits"):
            self.assertIn("cpu", res[kind])
            self.assertIn("memory", res[kind])
        self.assertTrue(self.pod["securityContext"]["runAsNonRoot"])
        self.assertNotEqual(self.pod["securityContext"]["runAsUser"], 0)
        sc = self.container["securityContext"]
        self.assertFalse(sc["allowPrivilegeEscalation"])
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])

    def test_drain_fits_in_the_grace_period(self):
        drain = next(int(a.split("=")[1]) for a in self.container["args"]
                     if a.startswith("--drain_seconds="))
        self.assertLess(drain, self.pod["terminationGracePeriodSeconds"])

    def test_requests_in_flight_fit_in_the_memory_limit(self):
        # The server's default budget (1024 MB) is above the pod's limit: a
        # flood of large requests would get the pod OOM-killed instead of
        # answered RESOURCE_EXHAUSTED.
        budget = [int(a.split("=")[1]) for a in self.container["args"]
                  if a.startswith("--max_inflight_mb=")]
        self.assertEqual(len(budget), 1)
        limit = self.container["resources"]["limits"]["memory"]
        self.assertTrue(limit.endswith("Mi"), limit)
        self.assertGreater(budget[0], 0)
        self.assertLessEqual(budget[0], int(limit[:-2]) // 2)

    def test_max_connection_age_spreads_clients(self):
        age = [a for a in self.container["args"] if a.startswith("--max_connection_age_ms=")]
        self.assertEqual(len(age), 1)
        self.assertGreater(int(age[0].split("=")[1]), 0)

    def test_headless_and_regular_services_select_the_pods(self):
        labels = self.deployment["spec"]["template"]["metadata"]["labels"]
        services = {s["metadata"]["name"]: s for s in self.docs["Service"]}
        self.assertEqual(services["beex-headless"]["spec"]["clusterIP"], "None")
        self.assertNotEqual(services["beex"]["spec"].get("clusterIP"), "None")
        for s in services.values():
            for k, v in s["spec"]["selector"].items():
                self.assertEqual(labels.get(k), v)
            self.assertIn(50051, [p["port"] for p in s["spec"]["ports"]])

    def test_hpa_scales_on_cpu_and_queue_time(self):
        (hpa,) = self.docs["HorizontalPodAutoscaler"]
        self.assertEqual(hpa["spec"]["scaleTargetRef"]["name"], self.deployment["metadata"]["name"])
        kinds = {m["type"]: m for m in hpa["spec"]["metrics"]}
        self.assertEqual(kinds["Resource"]["resource"]["name"], "cpu")
        metric = kinds["Pods"]["pods"]["metric"]["name"]
        (adapter,) = self.docs["ConfigMap"]
        rules = yaml.safe_load(adapter["data"]["config.yaml"])["rules"]
        self.assertIn(metric, [r["name"]["as"] for r in rules])
        # The adapter reads a histogram the server exports.
        self.assertTrue(any("beex_queue_duration_seconds" in r["seriesQuery"] for r in rules))

    def test_pdb_covers_the_pods(self):
        (pdb,) = self.docs["PodDisruptionBudget"]
        labels = self.deployment["spec"]["template"]["metadata"]["labels"]
        for k, v in pdb["spec"]["selector"]["matchLabels"].items():
            self.assertEqual(labels.get(k), v)
        self.assertEqual(pdb["spec"]["maxUnavailable"], 1)

    @unittest.skipUnless(SERVER, "BEEX_SERVER (the beex-server binary) not set")
    def test_every_flag_passed_is_a_server_flag(self):
        out = subprocess.run([SERVER, "--helpfull"], capture_output=True, text=True).stdout
        known = set(re.findall(r"--([a-z_0-9]+) ", out))
        self.assertIn("port", known)
        used = [a[2:].split("=")[0] for a in self.container["args"]]
        with open(os.path.join(SRC, "deploy", "docker-entrypoint.sh")) as f:
            used += re.findall(r"--([a-z_]+)=", f.read())
        with open(os.path.join(SRC, "deploy", "compose.yaml")) as f:
            compose_args = yaml.safe_load(f)["services"]["beex"]["environment"]["BEEX_ARGS"]
        used += re.findall(r"--([a-z_]+)=", compose_args)
        for flag in used:
            self.assertIn(flag, known, f"--{flag} is not a beex-server flag")


class EntrypointTest(unittest.TestCase):
    def test_environment_maps_to_flags_with_each_models_batching(self):
        with tempfile.TemporaryDirectory() as tmp:
            server = os.path.join(tmp, "server")
            with open(server, "w") as f:
                f.write("#!/bin/sh\nprintf '%s\\n' \"$@\"\n")
            os.chmod(server, 0o755)
            env = dict(os.environ, BEEX_SERVER=server, BEEX_PORT="7000",
                       BEEX_MODELS="a=/m/a.beex,max_batch_size=8,max_batch_delay_us=500,"
                                   "b=/m/b.beex,c=/m/c.beex,batch_threads=2",
                       BEEX_ARGS="--max_queue=64 --access_log=5")
            out = subprocess.run(
                ["sh", os.path.join(SRC, "deploy", "docker-entrypoint.sh"), "--drain_seconds=3"],
                env=env, capture_output=True, text=True, check=True).stdout.split()
        self.assertEqual(out, [
            "--host=0.0.0.0", "--port=7000", "--metrics_port=9090",
            "--model=a=/m/a.beex,max_batch_size=8,max_batch_delay_us=500",
            "--model=b=/m/b.beex", "--model=c=/m/c.beex,batch_threads=2",
            "--max_queue=64", "--access_log=5", "--drain_seconds=3"])


class ComposeTest(unittest.TestCase):
    def setUp(self):
        with open(os.path.join(SRC, "deploy", "compose.yaml")) as f:
            self.compose = yaml.safe_load(f)["services"]

    def test_replicas_behind_a_grpc_balancer_scraped_by_prometheus(self):
        self.assertGreaterEqual(self.compose["beex"]["deploy"]["replicas"], 2)
        with open(os.path.join(SRC, "deploy", "nginx", "nginx.conf")) as f:
            nginx = f.read()
        self.assertIn("grpc_pass grpc://beex", nginx)
        self.assertRegex(nginx, r"listen 50051 http2")
        with open(os.path.join(SRC, "deploy", "prometheus", "prometheus.yml")) as f:
            prom = yaml.safe_load(f)
        (job,) = prom["scrape_configs"]
        self.assertEqual(job["dns_sd_configs"][0]["names"], ["beex"])
        # The image's default metrics port (Dockerfile ENV BEEX_METRICS_PORT).
        with open(os.path.join(SRC, "Dockerfile")) as f:
            port = re.search(r"BEEX_METRICS_PORT=(\d+)", f.read()).group(1)
        self.assertEqual(job["dns_sd_configs"][0]["port"], int(port))

    def test_dashboard_queries_only_metrics_the_server_exports(self):
        import json
        with open(os.path.join(SRC, "deploy", "grafana", "dashboards", "beex.json")) as f:
            dash = json.load(f)
        with open(os.path.join(SRC, "server", "beex_metrics.cc")) as f:
            exported = set(re.findall(r'"(beex_[a-z_]+)"', f.read()))
        titles = " ".join(p["title"].lower() for p in dash["panels"])
        for topic in ("requests per second", "latency", "batch size", "exit layer"):
            self.assertIn(topic, titles)
        for panel in dash["panels"]:
            for target in panel["targets"]:
                for name in re.findall(r"beex_[a-z_]+", target["expr"]):
                    base = re.sub(r"_(bucket|sum|count)$", "", name)
                    self.assertTrue(name in exported or base in exported,
                                    f"{panel['title']}: {name} is not exported")


if __name__ == "__main__":
    unittest.main()
