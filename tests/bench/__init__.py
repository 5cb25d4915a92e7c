"""Benchmarks (`make bench`): each figure is printed with its ratio to a baseline measured in the same run."""
