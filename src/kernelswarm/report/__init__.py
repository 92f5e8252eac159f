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
from kernelswarm.report.merge import MergeError, merge_reports

__all__ = ["AgentRow", "ArmRow", "Attempt", "MergeError", "ProblemReport", "ReportData", "merge_reports", "render_html",
           "report_data_from_store", "to_dict", "to_json", "write_report"]
