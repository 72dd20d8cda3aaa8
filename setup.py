"""Builds the optional C helper broker/_recordscan.c; everything else is in pyproject.toml.

optional=True: without a C compiler the install still succeeds and broker/recordscan.py
falls back to its Python version.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("broker._recordscan", ["broker/_recordscan.c"], optional=True)])
