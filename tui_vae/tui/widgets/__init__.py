"""Widgets of the explorer: half-block image grids and braille loss charts."""
