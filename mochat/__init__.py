"""MoChat core: skeleton layouts, motion corpora, models, dialogue templates, metrics, CLI.

This package imports no service (`ingest`, `encoder_service`, `llm_service`); services
import it.
"""

__version__ = "0.1.0"
