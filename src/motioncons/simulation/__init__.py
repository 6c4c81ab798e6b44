"""Simulation: trajectories in RELION's layout and every other format, movies for a real
aligner, and the real-aligner validation."""
