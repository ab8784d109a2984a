"""frtrain service: crowdsourcing a clean validation set and queueing training jobs."""

__version__ = "0.1.0"
