"""The kill-anywhere harness: a scripted research killed at checkpoints and resumed."""
