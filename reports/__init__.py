"""Paper-style tables (Markdown, LaTeX, CSV) from a run's results."""

from reports.tables import Table, discrepancy_table, render, summary_table

__all__ = ["Table", "discrepancy_table", "render", "summary_table"]
