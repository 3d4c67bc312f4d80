"""scripts/models-report.py on a checkout without training's own plots."""
import os
import shutil
import subprocess
import tempfile
import unittest

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


class ModelsReportTest(unittest.TestCase):
    def test_keeps_committed_plots_when_models_have_none(self):
        # models/*.calibration.png are git-ignored, so a fresh clone has only
        # docs/plots/; regenerating the tables must not drop their links.
        with tempfile.TemporaryDirectory() as root:
            for d in ("scripts", "models", "docs/plots"):
                os.makedirs(os.path.join(root, d))
            shutil.copy(os.path.join(REPO, "scripts", "models-report.py"), os.path.join(root, "scripts"))
            shutil.copy(os.path.join(REPO, "models", "sst2.report.json"), os.path.join(root, "models"))
            with open(os.path.join(root, "docs", "plots", "sst2.calibration.png"), "wb") as f:
                f.write(b"png")
            subprocess.run(["/usr/bin/python3", os.path.join(root, "scripts", "models-report.py")], check=True,
                           capture_output=True)
            with open(os.path.join(root, "docs", "MODELS.md")) as f:
                self.assertIn("![sst2 calibration](plots/sst2.calibration.png)", f.read())


if __name__ == "__main__":
    unittest.main()
