"""The ops console: dashboard, action pages, ``/metrics`` and the SVG charts they draw.

This app sits on top of the others (see docs/architecture.md): it may import
any app, and no app imports it. Apps that need a console page link to it by URL
name (``ops:…``), never by importing it.
"""
