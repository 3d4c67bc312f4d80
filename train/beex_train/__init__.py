"""Training, calibration and export of beex early-exit models."""
