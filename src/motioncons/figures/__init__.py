"""Figures: the per-movie overlay and the summary figure (drawn on a palette canvas, with
Pillow's fonts), the HTML report."""
