"""Record-level risk scoring: features, a calibrated classifier, its training, and the stage."""
