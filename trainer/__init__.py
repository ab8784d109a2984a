"""frtrain trainer: FR-Train (Roh et al., ICML 2020), its baselines, data sets and metrics.

This package never imports the service (`app`), FastAPI, SQLAlchemy or boto3; the
service reaches it only through :mod:`trainer.api`.
"""

__version__ = "0.1.0"
