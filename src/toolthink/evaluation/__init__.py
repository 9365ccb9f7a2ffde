"""Evaluation: pass@k on real bug benchmarks, episode logs and their replay."""
