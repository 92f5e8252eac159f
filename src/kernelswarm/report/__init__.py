"""The HTML report: typed ReportData, a self-contained page, and the same figures as JSON."""

from kernelswarm.report.data import (
    AgentRow,
    ArmRow,
    Attempt,
    ProblemReport,
    ReportData,
    report_data_from_store,
    to_dict,
    to_json,
)
from kernelswarm.report.html import render_html, write_report

__all__ = ["AgentRow", "ArmRow", "Attempt", "ProblemReport", "ReportData", "render_html", "report_data_from_store",
           "to_dict", "to_json", "write_report"]
