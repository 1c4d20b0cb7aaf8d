"""livehost: an always-on, labelled AI host for e-commerce livestreams.

Data path (one package per stage): products -> brain -> voice -> avatar -> compose -> publish.
"""

__version__ = "0.1.0"
