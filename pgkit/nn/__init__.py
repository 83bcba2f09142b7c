"""Torch helpers: lean action distributions, flat parameter buffers, exploration noise."""
