"""Reporting: plots (PNG + SVG), the named figures a plug-in asks for, results read back into
rows and verdicts, and the HTML report site with its Jinja2 templates."""
