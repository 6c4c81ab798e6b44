"""Figures: the per-movie overlay (Pillow), the summary figure (matplotlib), the HTML report."""
