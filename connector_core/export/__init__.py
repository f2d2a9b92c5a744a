"""Exports and reports: normalized logs and analytics as others read them.

* :mod:`~connector_core.export.ocsf`: one log as one OCSF event, and a
  validator of events against the schema's requirements;
* :mod:`~connector_core.export.formats`: streaming writers of logs (table,
  JSON, JSON lines, CSV, OCSF) and of analytics (text, JSON), behind the
  CLI's ``--format`` options;
* :mod:`~connector_core.export.report`: a self-contained HTML report of usage
  analytics with inline SVG charts.

The package depends on the models and the serializer only, so a host can
export without a connector, store or CLI.
"""

from connector_core.export.formats import (
    ANALYTICS_FORMATS,
    CSV_COLUMNS,
    LOG_FORMATS,
    write_analytics,
    write_logs,
)
from connector_core.export.ocsf import (
    OCSF_VERSION,
    ocsf_class_for,
    to_ocsf,
    validate_ocsf,
)
from connector_core.export.report import render_html_report


__all__ = [
    "ANALYTICS_FORMATS",
    "CSV_COLUMNS",
    "LOG_FORMATS",
    "OCSF_VERSION",
    "ocsf_class_for",
    "render_html_report",
    "to_ocsf",
    "validate_ocsf",
    "write_analytics",
    "write_logs",
]
